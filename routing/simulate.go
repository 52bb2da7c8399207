package routing

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// RouteShares is where one HTTP route's requests end up.
type RouteShares struct {
	Route          *Route `json:"-"`
	VirtualService string `json:"virtual_service"`
	Index          int    `json:"index"`
	Name           string `json:"name"`
	// Final maps "<fqdn>/<subset>" to the share of the route's requests it finally serves.
	Final map[string]float64 `json:"final"`
	// Failed is the share that fails (503 UH or NC).
	Failed float64 `json:"failed"`
}

// Simulation is the outcome of Simulate.
type Simulation struct {
	// Down is the resolved set of unavailable endpoints ("<fqdn>/<subset>", or "<fqdn>/*" for a
	// whole service).
	Down   []string      `json:"down"`
	Routes []RouteShares `json:"routes"`
}

// downSet is a resolved set of unavailable endpoints.
type downSet struct {
	keys  map[string]bool // "<fqdn>/<subset>"
	hosts map[string]bool // whole services
}

func (s downSet) has(e Endpoint) bool { return s.keys[e.Key()] || s.hosts[e.Host] }

// resolveHost turns a short or partial host into a configured FQDN (R1).
func (c *Config) resolveHost(h string) (string, error) {
	if c.services[h] {
		return h, nil
	}
	var cands []string
	switch strings.Count(h, ".") {
	case 0:
		for s := range c.services {
			if shortName(s) == h {
				cands = append(cands, s)
			}
		}
	case 1:
		cands = []string{h + ".svc." + c.Domain}
	case 2:
		cands = []string{h + "." + c.Domain}
	}
	var found []string
	for _, s := range cands {
		if c.services[s] {
			found = append(found, s)
		}
	}
	sort.Strings(found)
	switch len(found) {
	case 0:
		return "", fmt.Errorf("host %q is named by no VirtualService or DestinationRule", h)
	case 1:
		return found[0], nil
	}
	return "", fmt.Errorf("host %q is ambiguous (%s): give the FQDN", h, strings.Join(found, ", "))
}

func (c *Config) resolveDown(down []string) (downSet, []string, error) {
	s := downSet{keys: map[string]bool{}, hosts: map[string]bool{}}
	var names []string
	for _, d := range down {
		host, subset, hasSubset := strings.Cut(d, "/")
		h, err := c.resolveHost(host)
		if err != nil {
			return s, nil, fmt.Errorf("--down %q: %w", d, err)
		}
		if !hasSubset {
			s.hosts[h] = true
			names = append(names, h+"/*")
			continue
		}
		if subset != "" && !c.subsets[h][subset] {
			return s, nil, fmt.Errorf("--down %q: no DestinationRule defines subset %q of %s (known: %s)", d, subset, h, strings.Join(c.Subsets(h), ", "))
		}
		e := Endpoint{Host: h, Subset: subset}
		s.keys[e.Key()] = true
		names = append(names, e.Key())
	}
	sort.Strings(names)
	return s, names, nil
}

// Simulate computes, for every forwarding HTTP route, the exact share of its requests finally
// served by each host/subset and the share that fails, when the listed endpoints have no
// healthy endpoint. Entries are "host/subset" (host short or FQDN, resolved by R1 against the
// configured services) or "host" for every subset of it. Subsets no DestinationRule defines are
// down as well (R5, R13). The computation follows R6 and R12–R17: one hop, weights w/Σw.
func (c *Config) Simulate(down []string) (Simulation, error) {
	ds, names, err := c.resolveDown(down)
	if err != nil {
		return Simulation{}, err
	}
	sim := Simulation{Down: names}
	if sim.Down == nil {
		sim.Down = []string{}
	}
	for _, vs := range c.VirtualServices {
		for _, r := range vs.HTTP {
			if r.Action != ActionRoute || r.totalWeight() <= 0 {
				continue
			}
			sim.Routes = append(sim.Routes, c.simulateRoute(r, ds))
		}
	}
	return sim, nil
}

func (c *Config) simulateRoute(r *Route, ds downSet) RouteShares {
	up := func(e Endpoint) bool { return c.subsetDefined(e) && !ds.has(e) }
	final := map[string]int{}
	failed := 0
	for _, d := range r.Destinations {
		w := r.weightOf(d)
		if w <= 0 {
			continue
		}
		switch {
		case up(d.Endpoint):
			final[d.Key()] += w // R14
		case d.Fallback != nil && up(d.Fallback.Target):
			final[d.Fallback.Target.Key()] += w // R15
		default:
			failed += w // R14, R16, R17
		}
	}
	total := float64(r.totalWeight())
	rs := RouteShares{Route: r, VirtualService: r.VirtualService.ID(), Index: r.Index, Name: r.Name,
		Final: map[string]float64{}, Failed: float64(failed) / total}
	for k, w := range final {
		rs.Final[k] = float64(w) / total
	}
	return rs
}

// Multiplier is the worst load an endpoint carries in one route if any single other endpoint of
// that route goes down, relative to its normal load.
type Multiplier struct {
	// Endpoint is "<fqdn>/<subset>".
	Endpoint string `json:"endpoint"`
	// Route is the route label where the worst case happens.
	Route string `json:"route"`
	// Down is the endpoint whose loss causes the worst case; empty when no single loss adds load.
	Down string `json:"down"`
	// Normal and Worst are shares of the route's requests served with nothing down and in the
	// worst case.
	Normal float64 `json:"normal"`
	Worst  float64 `json:"worst"`
	// Factor is Worst/Normal; +Inf when the endpoint serves nothing normally.
	Factor float64 `json:"-"`
}

// LoadMultipliers returns, per host/subset, the worst multiplier of its normal load if any single
// other endpoint went down (seed sample 2: v2 carries 2.0× when v3 is down), sorted by endpoint.
// Routes are judged separately, since their relative traffic is not in the configuration.
func (c *Config) LoadMultipliers() []Multiplier {
	worst := map[string]Multiplier{}
	for _, vs := range c.VirtualServices {
		for _, r := range vs.HTTP {
			if r.Action != ActionRoute || r.totalWeight() <= 0 {
				continue
			}
			base := c.simulateRoute(r, downSet{})
			var eps []string
			seen := map[string]bool{}
			for _, d := range r.Destinations {
				for _, e := range []Endpoint{d.Endpoint} {
					if !seen[e.Key()] {
						seen[e.Key()] = true
						eps = append(eps, e.Key())
					}
				}
				if d.Fallback != nil && !seen[d.Fallback.Target.Key()] {
					seen[d.Fallback.Target.Key()] = true
					eps = append(eps, d.Fallback.Target.Key())
				}
			}
			sort.Strings(eps)
			for _, y := range eps {
				sim := c.simulateRoute(r, downSet{keys: map[string]bool{y: true}})
				for x, share := range sim.Final {
					if x == y || share <= 0 {
						continue
					}
					m := Multiplier{Endpoint: x, Route: r.Label(), Down: y, Normal: base.Final[x], Worst: share}
					m.Factor = math.Inf(1)
					if m.Normal > 0 {
						m.Factor = share / m.Normal
					}
					prev, ok := worst[x]
					if !ok || m.Factor > prev.Factor || (m.Factor == prev.Factor && m.Worst > prev.Worst) {
						worst[x] = m
					}
				}
			}
		}
	}
	out := make([]Multiplier, 0, len(worst))
	for _, m := range worst {
		if m.Factor <= 1 {
			m.Down = "" // no single loss adds to its load
		}
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Endpoint < out[j].Endpoint })
	return out
}

// EdgeEnd is one end of a fallback edge.
type EdgeEnd struct {
	Service string `json:"service"`
	Subset  string `json:"subset"`
	// Cluster is the Envoy cluster name; its port field is empty when the port is not known.
	Cluster string `json:"cluster"`
}

// Edge is one configured fallback: From falls back to To in Route.
type Edge struct {
	Route          string  `json:"route"`
	VirtualService string  `json:"virtual_service"`
	From           EdgeEnd `json:"from"`
	To             EdgeEnd `json:"to"`
	// Weight is From's share of the route's requests (R6).
	Weight float64 `json:"weight"`
}

// Edges returns every configured fallback edge, in configuration order.
func (c *Config) Edges() []Edge {
	var out []Edge
	end := func(e Endpoint) EdgeEnd {
		return EdgeEnd{Service: e.Host, Subset: e.Subset, Cluster: e.Cluster(c.portOf(e))}
	}
	for _, vs := range c.VirtualServices {
		for _, r := range vs.HTTP {
			for _, d := range r.Destinations {
				if d.Fallback == nil {
					continue
				}
				out = append(out, Edge{Route: r.Label(), VirtualService: vs.ID(), From: end(d.Endpoint),
					To: end(d.Fallback.Target), Weight: r.Share(d)})
			}
		}
	}
	return out
}
