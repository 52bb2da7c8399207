package replay

import (
	"maps"
	"slices"
	"sort"
	"time"

	"github.com/fallbackwatch/fallbackwatch/routing"
)

// The views below are derived from a Report once, for every format that shows them (text,
// markdown and HTML); the JSON report is the Report itself.

// ServiceView is one destination service's routing outcomes.
type ServiceView struct {
	Service         string
	Requests        int64
	FailedFallbacks int64
	// ServedBy is who finally served the requests, most first: a subset of the service, another
	// cluster, or "nobody" (R14 503 UH without fallback, R16 failed fallback, R5 NC).
	ServedBy []Share
	Routes   []RouteView
	// Worst is the minute with the most failed fallbacks, then the most fallbacks; nil when
	// nothing fell back.
	Worst *Minute
}

// RouteView is one route's requests to a service, by primary subset.
type RouteView struct {
	Route    string // "" when neither the configuration nor the record named one
	Requests int64
	Subsets  []SubsetView
}

// SubsetView is one primary subset's requests on a route.
type SubsetView struct {
	Subset   string
	Cluster  string // the primary cluster (the first, when the subset has several ports)
	Requests int64
	FellBack int64 // fell back, whether the fallback served or failed
	Failed   int64 // failed fallbacks
	ServedBy []Share
	// FirstFallback and FirstFailed are the first timeline buckets in which the subset's
	// requests fell back, and in which a fallback failed; nil when none did.
	FirstFallback *time.Time
	FirstFailed   *time.Time
}

// Share is a count under a name.
type Share struct {
	Name     string
	Requests int64
}

// Nobody is the served-by name of requests no cluster served.
const Nobody = "nobody"

// Services returns the per-service view of the groups, services and routes in name order.
func (r *Report) Services() []ServiceView {
	type subAcc struct {
		SubsetView
		servedBy map[string]int64
	}
	type svcAcc struct {
		ServiceView
		servedBy map[string]int64
		routes   map[string]map[string]*subAcc
	}
	svcs := map[string]*svcAcc{}
	for _, g := range r.Groups {
		s := svcs[g.DestinationService]
		if s == nil {
			s = &svcAcc{ServiceView: ServiceView{Service: g.DestinationService}, servedBy: map[string]int64{},
				routes: map[string]map[string]*subAcc{}}
			svcs[g.DestinationService] = s
		}
		subs := s.routes[g.Route]
		if subs == nil {
			subs = map[string]*subAcc{}
			s.routes[g.Route] = subs
		}
		sub := subs[g.PrimarySubset]
		if sub == nil {
			sub = &subAcc{SubsetView: SubsetView{Subset: g.PrimarySubset, Cluster: g.PrimaryCluster}, servedBy: map[string]int64{}}
			subs[g.PrimarySubset] = sub
		}
		sub.Requests += g.Requests
		s.Requests += g.Requests
		switch g.Result {
		case "success":
			sub.FellBack += g.Requests
		case "failed":
			sub.FellBack += g.Requests
			sub.Failed += g.Requests
			s.FailedFallbacks += g.Requests
		}
		name := Nobody
		if g.FinalCluster != "" {
			name = finalName(g, g.DestinationService)
		}
		sub.servedBy[name] += g.Requests
		s.servedBy[name] += g.Requests
	}
	firsts := r.firsts()
	worst := r.worstMinutes()
	out := make([]ServiceView, 0, len(svcs))
	for _, name := range slices.Sorted(maps.Keys(svcs)) {
		s := svcs[name]
		v := s.ServiceView
		v.ServedBy = sortedShares(s.servedBy)
		for _, rn := range slices.Sorted(maps.Keys(s.routes)) {
			rv := RouteView{Route: rn}
			for _, sn := range slices.Sorted(maps.Keys(s.routes[rn])) {
				sub := s.routes[rn][sn]
				sv := sub.SubsetView
				sv.ServedBy = sortedShares(sub.servedBy)
				f := firsts[[3]string{name, rn, sn}]
				sv.FirstFallback, sv.FirstFailed = f.fallback, f.failed
				rv.Requests += sv.Requests
				rv.Subsets = append(rv.Subsets, sv)
			}
			v.Routes = append(v.Routes, rv)
		}
		v.Worst = worst[name]
		out = append(out, v)
	}
	return out
}

type firstTimes struct{ fallback, failed *time.Time }

// firsts returns, by service, route and primary subset, the first buckets with a fallback and
// with a failed fallback.
func (r *Report) firsts() map[[3]string]firstTimes {
	out := map[[3]string]firstTimes{}
	for i := range r.Timeline {
		m := &r.Timeline[i]
		if m.FallbackSuccess+m.FallbackFailed == 0 {
			continue
		}
		k := [3]string{m.DestinationService, m.Route, m.PrimarySubset}
		f := out[k]
		if f.fallback == nil {
			f.fallback = &m.Minute
		}
		if f.failed == nil && m.FallbackFailed > 0 {
			f.failed = &m.Minute
		}
		out[k] = f
	}
	return out
}

// WorstMinutes returns up to n timeline entries in which requests fell back, the most failed
// fallbacks first, then the most fallbacks, then the earliest.
func (r *Report) WorstMinutes(n int) []Minute {
	var out []Minute
	for _, m := range r.Timeline {
		if m.FallbackSuccess+m.FallbackFailed+m.NoFallbackUH > 0 {
			out = append(out, m)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := &out[i], &out[j]
		if fa, fb := a.FallbackFailed+a.NoFallbackUH, b.FallbackFailed+b.NoFallbackUH; fa != fb {
			return fa > fb
		}
		if a.FallbackSuccess != b.FallbackSuccess {
			return a.FallbackSuccess > b.FallbackSuccess
		}
		return a.Minute.Before(b.Minute)
	})
	if len(out) > n {
		out = out[:n]
	}
	return out
}

// RoutingUsed is the routing configuration a replay checked records against.
type RoutingUsed struct {
	Files   []string        `json:"files"`
	Objects []RoutingObject `json:"objects"`
	Edges   []FallbackEdge  `json:"fallback_edges"`
	Ignored []string        `json:"ignored,omitempty"`
}

// RoutingObject is one VirtualService or DestinationRule, and where it was read.
type RoutingObject struct {
	Kind string `json:"kind"` // VirtualService or DestinationRule
	ID   string `json:"id"`   // namespace/name
	File string `json:"file"`
	Line int    `json:"line"`
	// Hosts are a VirtualService's hosts, or a DestinationRule's host; Subsets a rule's subsets.
	Hosts   []string `json:"hosts"`
	Subsets []string `json:"subsets,omitempty"`
}

// FallbackEdge is one configured fallback (R3): a route destination and its target.
type FallbackEdge struct {
	Route       string `json:"route"`
	FromService string `json:"from_service"`
	FromSubset  string `json:"from_subset"`
	ToService   string `json:"to_service"`
	ToSubset    string `json:"to_subset"`
	File        string `json:"file"`
	Line        int    `json:"line"`
}

// routingUsed describes cfg; nil when no configuration was given.
func routingUsed(cfg *routing.Config) *RoutingUsed {
	if cfg == nil {
		return nil
	}
	u := &RoutingUsed{Files: []string{}, Objects: []RoutingObject{}, Edges: []FallbackEdge{}, Ignored: cfg.Ignored}
	files := map[string]bool{}
	addFile := func(f string) {
		if !files[f] {
			files[f] = true
			u.Files = append(u.Files, f)
		}
	}
	for _, vs := range cfg.VirtualServices {
		addFile(vs.File)
		u.Objects = append(u.Objects, RoutingObject{Kind: "VirtualService", ID: vs.ID(), File: vs.File, Line: vs.Line, Hosts: vs.Hosts})
		for _, rt := range vs.HTTP {
			for _, d := range rt.Destinations {
				if d.Fallback == nil {
					continue
				}
				u.Edges = append(u.Edges, FallbackEdge{Route: rt.Label(), FromService: d.Host, FromSubset: d.Subset,
					ToService: d.Fallback.Target.Host, ToSubset: d.Fallback.Target.Subset, File: d.Fallback.File, Line: d.Fallback.Line})
			}
		}
	}
	for _, dr := range cfg.DestinationRules {
		addFile(dr.File)
		u.Objects = append(u.Objects, RoutingObject{Kind: "DestinationRule", ID: dr.Namespace + "/" + dr.Name, File: dr.File, Line: dr.Line,
			Hosts: []string{dr.Host}, Subsets: dr.Subsets})
	}
	return u
}

// HealthView is one cluster's health timeline and the fallbacks configured from it.
type HealthView struct {
	Cluster   string
	Intervals []HealthInterval
	// FallsBackTo names the targets of the fallbacks configured on this cluster's subset, as
	// "<service>/<subset>" or "<subset>" for the same service.
	FallsBackTo []string
}

// HealthViews returns the health timeline of each cluster in name order, with its configured
// fallback edges.
func (r *Report) HealthViews() []HealthView {
	out := make([]HealthView, 0, len(r.Health))
	for _, c := range slices.Sorted(maps.Keys(r.Health)) {
		hv := HealthView{Cluster: c, Intervals: r.Health[c]}
		svc, sub := serviceSubset([]byte(c))
		if r.Routing != nil {
			seen := map[string]bool{}
			for _, e := range r.Routing.Edges {
				if e.FromService != svc || e.FromSubset != sub {
					continue
				}
				to := e.ToService + "/" + e.ToSubset
				if e.ToService == svc {
					to = e.ToSubset
				}
				if !seen[to] {
					seen[to] = true
					hv.FallsBackTo = append(hv.FallsBackTo, to)
				}
			}
		}
		out = append(out, hv)
	}
	return out
}

func sortedShares(m map[string]int64) []Share {
	out := make([]Share, 0, len(m))
	for k, v := range m {
		out = append(out, Share{k, v})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Requests != out[j].Requests {
			return out[i].Requests > out[j].Requests
		}
		return out[i].Name < out[j].Name
	})
	return out
}
