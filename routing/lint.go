package routing

import (
	"fmt"
	"sort"
	"strings"
)

// Severity says whether a finding makes the configuration wrong or only surprising.
type Severity uint8

const (
	// SeverityError: the configuration is invalid or ambiguous; Istio or ASM would reject or
	// misroute it.
	SeverityError Severity = iota + 1
	// SeverityWarning: valid, but probably not what the operator expects.
	SeverityWarning
)

func (s Severity) String() string {
	switch s {
	case SeverityError:
		return "error"
	case SeverityWarning:
		return "warning"
	}
	return "unknown"
}

// MarshalText makes a Severity print as "error" or "warning" in JSON.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Finding codes, stable across releases.
const (
	CodeWeightNegative          = "weight-negative"
	CodeWeightSumZero           = "weight-sum-zero"
	CodeSubsetUndefined         = "subset-undefined"
	CodeFallbackTargetUndefined = "fallback-target-undefined"
	CodeFallbackSelf            = "fallback-self"
	CodeFallbackAmbiguous       = "fallback-ambiguous"
	CodeUnreachableRoute        = "unreachable-route"
	CodeDuplicateMatch          = "duplicate-match"
	CodeFallbackChain           = "fallback-chain"
	CodeFallbackMissing         = "fallback-missing"
	CodeFallbackCrossHost       = "fallback-cross-host"
	CodeFallbackCase            = "fallback-case"
	CodeDuplicateHost           = "duplicate-host"
	CodeHostRepeated            = "host-repeated"
)

// Finding is one lint result.
type Finding struct {
	Severity Severity `json:"severity"`
	Code     string   `json:"code"`
	Rule     string   `json:"rule"`
	File     string   `json:"file"`
	Line     int      `json:"line"`
	Resource string   `json:"resource"`
	Path     string   `json:"path"`
	Message  string   `json:"message"`
}

func (f Finding) String() string {
	return fmt.Sprintf("%s:%d: %s: %s %s: %s (%s)", f.File, f.Line, f.Severity, f.Resource, f.Path, f.Message, f.Rule)
}

// Lint returns the configuration's findings, sorted by file and line.
func (c *Config) Lint() []Finding {
	var out []Finding
	add := func(sev Severity, code, rule string, vs *VirtualService, src Source, path, format string, args ...any) {
		out = append(out, Finding{Severity: sev, Code: code, Rule: rule, File: src.File, Line: src.Line,
			Resource: vs.Resource(), Path: path, Message: fmt.Sprintf(format, args...)})
	}
	c.lintHosts(add)
	for _, vs := range c.VirtualServices {
		c.lintRoutes(vs, add)
	}
	out = append(out, c.delegation...)
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].File != out[j].File {
			return out[i].File < out[j].File
		}
		return out[i].Line < out[j].Line
	})
	return out
}

// meshBound reports whether v applies to sidecars: no gateways, or "mesh" among them.
func meshBound(v *VirtualService) bool {
	if len(v.Gateways) == 0 {
		return true
	}
	for _, g := range v.Gateways {
		if g == "mesh" {
			return true
		}
	}
	return false
}

// hostScope is a host as seen from one exportTo scope ("*" for every namespace).
type hostScope struct{ scope, host string }

// lintHosts reports VirtualServices bound to sidecars whose hosts collide where they are visible,
// as Istio's ConflictingMeshGatewayHostsAnalyzer does (IST0109): hosts are grouped by exportTo
// scope; a host exported to some namespaces also collides with every host exported to all
// namespaces that it matches, wildcards included (*.productpage.d against *.d).
func (c *Config) lintHosts(add addFunc) {
	groups := map[hostScope][]*VirtualService{}
	var keys []hostScope
	for _, vs := range c.VirtualServices {
		for _, pair := range repeatedHosts(vs.written) {
			add(SeverityError, CodeHostRepeated, "R8", vs, vs.Source, "spec.hosts",
				"duplicate hosts in virtual service: %s & %s (Istio rejects it)", pair[0], pair[1])
		}
		if vs.IsDelegate() || !meshBound(vs) {
			continue
		}
		for _, scope := range exportScopes(vs) {
			for _, h := range vs.Hosts {
				k := hostScope{scope, h}
				if _, ok := groups[k]; !ok {
					keys = append(keys, k)
				}
				groups[k] = append(groups[k], vs)
			}
		}
	}
	var everywhere []string
	for _, k := range keys {
		if k.scope == "*" {
			everywhere = append(everywhere, k.host)
		}
	}
	idx := newHostIndex(everywhere)
	reported := map[*VirtualService]bool{}
	for _, k := range keys {
		list := append([]*VirtualService(nil), groups[k]...)
		if k.scope != "*" {
			matched := map[int]bool{}
			idx.each(k.host, func(i int) {
				if !matched[i] {
					matched[i] = true
					list = append(list, groups[hostScope{"*", everywhere[i]}]...)
				}
			})
		}
		distinct := map[*VirtualService]bool{}
		var names []string
		for _, vs := range list {
			if !distinct[vs] {
				distinct[vs] = true
				names = append(names, vs.ID())
			}
		}
		if len(distinct) < 2 {
			continue
		}
		sort.Strings(names)
		if len(names) > maxNamesListed {
			names = append(names[:maxNamesListed], fmt.Sprintf("and %d more", len(names)-maxNamesListed))
		}
		for _, vs := range list {
			if reported[vs] {
				continue
			}
			reported[vs] = true
			add(SeverityWarning, CodeDuplicateHost, "R8", vs, vs.Source, "spec.hosts",
				"the VirtualServices %s bound to the mesh claim the same host %s (IST0109): sidecars use only one of them per host",
				strings.Join(names, ","), k.host)
		}
	}
}

// maxNamesListed caps the VirtualServices one finding names.
const maxNamesListed = 10

// hostIndex finds the hosts of a list that a host matches by Istio's host.Name.Matches without
// comparing every pair: wildcards are looked up by the suffixes of the host, and the host's own
// wildcard suffix is looked up among the suffixes of the others. Suffixes are taken at label
// boundaries, where valid wildcards ("*" or "*.<domain>") end.
type hostIndex struct {
	hosts    []string
	exact    map[string][]int
	wild     map[string][]int // "*.x" -> indexes
	bySuffix map[string][]int // ".x" (every label suffix, and "") -> indexes
}

func newHostIndex(hosts []string) *hostIndex {
	x := &hostIndex{hosts: hosts, exact: map[string][]int{}, wild: map[string][]int{}, bySuffix: map[string][]int{}}
	for i, h := range hosts {
		x.exact[h] = append(x.exact[h], i)
		if strings.HasPrefix(h, "*") {
			x.wild[h] = append(x.wild[h], i)
		}
		x.bySuffix[""] = append(x.bySuffix[""], i)
		for k := 0; k < len(h); k++ {
			if h[k] == '.' {
				x.bySuffix[h[k:]] = append(x.bySuffix[h[k:]], i)
			}
		}
	}
	return x
}

// each calls f with the index of every host that h matches (possibly more than once).
func (x *hostIndex) each(h string, f func(i int)) {
	for _, i := range x.exact[h] {
		f(i)
	}
	// a wildcard among the others whose suffix h ends with
	for k := 0; k <= len(h); k++ {
		if k == len(h) || h[k] == '.' {
			for _, i := range x.wild["*"+h[k:]] {
				f(i)
			}
		}
	}
	// h a wildcard: the others ending with its suffix
	if strings.HasPrefix(h, "*") {
		for _, i := range x.bySuffix[h[1:]] {
			if strings.HasSuffix(x.hosts[i], h[1:]) {
				f(i)
			}
		}
	}
}

// repeatedHosts returns the pairs of hosts of one VirtualService that Istio's validation calls
// duplicates (host.Name.Matches), in written order.
func repeatedHosts(hosts []string) [][2]string {
	x := newHostIndex(hosts)
	type pair struct{ i, j int }
	seen := map[pair]bool{}
	var pairs []pair
	for j, h := range hosts {
		x.each(h, func(i int) {
			if i == j || (hosts[i] == h && i > j) {
				return
			}
			p := pair{min(i, j), max(i, j)}
			if hosts[i] == h {
				p = pair{i, j} // equal hosts: once, at the later one
			}
			if !seen[p] {
				seen[p] = true
				pairs = append(pairs, p)
			}
		})
	}
	sort.Slice(pairs, func(a, b int) bool {
		if pairs[a].i != pairs[b].i {
			return pairs[a].i < pairs[b].i
		}
		return pairs[a].j < pairs[b].j
	})
	out := make([][2]string, len(pairs))
	for k, p := range pairs {
		out[k] = [2]string{hosts[p.i], hosts[p.j]}
	}
	return out
}

// exportScopes are the namespaces a VirtualService is visible in, "*" for all.
func exportScopes(v *VirtualService) []string {
	if len(v.ExportTo) == 0 {
		return []string{"*"}
	}
	var out []string
	seen := map[string]bool{}
	for _, e := range v.ExportTo {
		if e == "*" {
			return []string{"*"}
		}
		if e == "." {
			e = v.Namespace
		}
		if !seen[e] {
			seen[e] = true
			out = append(out, e)
		}
	}
	return out
}

// hostMatches is Istio's host.Name.Matches: equal names, or a wildcard ("*.x") whose suffix the
// other name ends with; two wildcards match when one's suffix ends with the other's.
func hostMatches(a, b string) bool {
	aw, bw := strings.HasPrefix(a, "*"), strings.HasPrefix(b, "*")
	switch {
	case aw && bw:
		if len(a) < len(b) {
			return strings.HasSuffix(b[1:], a[1:])
		}
		return strings.HasSuffix(a[1:], b[1:])
	case aw:
		return strings.HasSuffix(b, a[1:])
	case bw:
		return strings.HasSuffix(a, b[1:])
	}
	return a == b
}

type addFunc func(sev Severity, code, rule string, vs *VirtualService, src Source, path, format string, args ...any)

func (c *Config) lintRoutes(vs *VirtualService, add addFunc) {
	var catchAll *Route
	seen := map[string]*Route{}
	for _, r := range vs.HTTP {
		rp := "spec." + r.Path()
		if catchAll != nil {
			add(SeverityWarning, CodeUnreachableRoute, "R8", vs, r.Source, rp,
				"route is unreachable: %s before it matches every request (IST0130)", "spec."+catchAll.Path())
		} else {
			for i, m := range r.Matches {
				sig := m.signature()
				if prev, ok := seen[sig]; ok {
					add(SeverityWarning, CodeDuplicateMatch, "R8", vs, m.Source, fmt.Sprintf("%s.match[%d]", rp, i),
						"match block repeats one of spec.%s, which wins (IST0131)", prev.Path())
				} else {
					seen[sig] = r
				}
			}
		}
		if catchAll == nil && (r.Matches == nil || anyCatchAll(r.Matches)) {
			catchAll = r
		}
		if r.Action != ActionRoute {
			continue
		}
		c.lintDestinations(vs, r, add)
	}
}

func anyCatchAll(ms []*Match) bool {
	for _, m := range ms {
		if m.catchAll() {
			return true
		}
	}
	return false
}

func (c *Config) lintDestinations(vs *VirtualService, r *Route, add addFunc) {
	multi := len(r.Destinations) > 1
	for _, d := range r.Destinations {
		if d.Weight < 0 {
			add(SeverityError, CodeWeightNegative, "R6", vs, d.Source, d.Path+".weight",
				"weight %d is negative", d.Weight)
		}
	}
	if multi && r.weightSum == 0 {
		add(SeverityError, CodeWeightSumZero, "R6", vs, r.Source, "spec."+r.Path()+".route",
			"weights of %d destinations sum to 0: no destination can be chosen", len(r.Destinations))
	}
	anyFallback := false
	for _, d := range r.Active() {
		if d.Fallback != nil {
			anyFallback = true
		}
	}
	byCluster := map[string]*Destination{}
	for _, d := range r.Destinations {
		p := d.Path
		active := !multi || d.Weight > 0
		if !c.subsetDefined(d.Endpoint) {
			add(SeverityError, CodeSubsetUndefined, "R5", vs, d.Source, p+".destination.subset",
				"subset %q of %s is defined by no DestinationRule: requests get 503 NC", d.Subset, d.Host)
		}
		if prev, ok := byCluster[d.Key()]; ok && d.Port == prev.Port && !sameFallback(prev.Fallback, d.Fallback) {
			add(SeverityError, CodeFallbackAmbiguous, "R12", vs, d.Source, p,
				"%s appears twice in one weighted route with different fallback targets (%s and %s): a log cannot tell them apart",
				d.Key(), fallbackKey(prev.Fallback), fallbackKey(d.Fallback))
		} else if !ok {
			byCluster[d.Key()] = d
		}
		fb := d.Fallback
		if fb == nil {
			if active && multi && anyFallback {
				add(SeverityWarning, CodeFallbackMissing, "R14", vs, d.Source, p,
					"%s takes traffic but has no fallback while other destinations of the route do: its share fails with 503 UH when it is down", d.Key())
			}
			continue
		}
		fp := p + ".fallback.target"
		if !c.subsetDefined(fb.Target) {
			add(SeverityError, CodeFallbackTargetUndefined, "R3", vs, fb.Source, fp+".subset",
				"fallback target subset %q of %s is defined by no DestinationRule: the fallback can never succeed (R5)", fb.Target.Subset, fb.Target.Host)
		}
		if fb.Target.Host == d.Host && fb.Target.Subset == d.Subset && (fb.Target.Port == d.Port || fb.Target.Port == 0 || d.Port == 0) {
			add(SeverityError, CodeFallbackSelf, "R3", vs, fb.Source, fp,
				"%s falls back to itself: the fallback can never help", d.Key())
		}
		if fb.Target.Host != d.Host {
			add(SeverityWarning, CodeFallbackCrossHost, "R3", vs, fb.Source, fp+".host",
				"fallback from %s goes to another service, %s: check it serves the same API and has the capacity", d.Key(), fb.Target.Key())
		}
		if fb.Case != "" {
			add(SeverityWarning, CodeFallbackCase, "R13", vs, fb.Source, p+".fallback.case",
				"fallback.case %q is undocumented; fallbackwatch assumes the default trigger (no healthy endpoint)", fb.Case)
		}
		if !active {
			continue
		}
		for _, o := range r.Destinations {
			if o != d && o.Fallback != nil && o.Endpoint.Key() == fb.Target.Key() && o.Fallback.Target.Key() != d.Key() {
				add(SeverityWarning, CodeFallbackChain, "R17", vs, fb.Source, fp,
					"fallback target %s falls back to %s itself, but fallback takes one hop: when %s and %s are both down, %s's share fails with 503 UH instead of reaching %s",
					fb.Target.Key(), o.Fallback.Target.Key(), d.Key(), fb.Target.Key(), d.Key(), o.Fallback.Target.Key())
				break
			}
		}
	}
}

func sameFallback(a, b *Fallback) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Target == b.Target
}

func fallbackKey(f *Fallback) string {
	if f == nil {
		return "none"
	}
	return f.Target.Key()
}
