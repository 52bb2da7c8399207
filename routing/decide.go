package routing

import (
	"bytes"
	"strings"

	"github.com/fallbackwatch/fallbackwatch/parse"
)

// Request is what a routing decision depends on. An access log shows authority, method and path;
// Headers is nil when the headers are not known (replay), which makes header conditions
// "unknown" (R9).
type Request struct {
	Authority string
	Method    string
	Path      string
	Headers   map[string]string
}

// Health says whether a cluster has a healthy endpoint (R13).
type Health interface {
	Healthy(cluster string) bool
}

// HealthSet is a Health where every cluster is healthy except those listed as down. Keys are
// "<fqdn>/<subset>" (any port) or full cluster names.
type HealthSet map[string]bool

// Down marks "<fqdn>/<subset>" as unhealthy and returns the set.
func (s HealthSet) Down(keys ...string) HealthSet {
	for _, k := range keys {
		s[k] = true
	}
	return s
}

// Healthy reports whether cluster (an Envoy cluster name) is not marked down.
func (s HealthSet) Healthy(cluster string) bool {
	if s[cluster] {
		return false
	}
	c, err := parse.ParseCluster(cluster)
	if err != nil {
		return true
	}
	return !s[c.FQDN+"/"+c.Subset]
}

// AllHealthy is a Health where every cluster is healthy.
var AllHealthy Health = HealthSet(nil)

// Decision is what the sidecar does with one request and what its access log shows.
type Decision struct {
	// Route is the matched HTTP route; nil when the host has no VirtualService or no route matches.
	Route *Route
	// MatchUnknown is set when an earlier route's match could not be evaluated (header-only
	// conditions with unknown headers, R9): the request may have matched that one instead.
	MatchUnknown bool
	// Destination is the destination the weighted pick chose (R6, R12); nil with Route nil or
	// a non-forwarding route.
	Destination     *Destination
	UpstreamCluster string
	FallbackPath    []string
	FinalCluster    string
	Result          parse.Result
	ResponseCode    int
	Flags           parse.Flags
}

// tri is a three-valued truth for route matching with unknown request parts.
type tri uint8

const (
	triFalse tri = iota
	triTrue
	triUnknown
)

// reqView is a request as byte slices, so records can be matched without copying.
type reqView struct {
	authority, method, path []byte
	headers                 map[string]string // nil: unknown
}

// matchRoute evaluates a route's match blocks: ORed blocks of ANDed conditions (R8, R9).
func matchRoute(r *Route, req *reqView) tri {
	if r.Matches == nil {
		return triTrue
	}
	res := triFalse
	for _, m := range r.Matches {
		switch matchBlock(m, req) {
		case triTrue:
			return triTrue
		case triUnknown:
			res = triUnknown
		}
	}
	return res
}

func matchBlock(m *Match, req *reqView) tri {
	res := triTrue
	if len(m.Opaque) > 0 || m.Scheme != nil {
		res = triUnknown
	}
	if m.URI != nil {
		p := req.path
		if i := bytes.IndexByte(p, '?'); i >= 0 {
			p = p[:i]
		}
		if !m.URI.matchBytes(p, m.IgnoreURICase) {
			return triFalse
		}
	}
	if m.Method != nil && !m.Method.matchBytes(req.method, false) {
		return triFalse
	}
	if m.Authority != nil && !m.Authority.matchBytes(req.authority, false) {
		return triFalse
	}
	for name, sm := range m.Headers {
		if req.headers == nil {
			res = triUnknown
			continue
		}
		v, ok := header(req.headers, name)
		if !ok || !sm.match(v, false) {
			return triFalse
		}
	}
	for name, sm := range m.WithoutHeaders {
		if req.headers == nil {
			res = triUnknown
			continue
		}
		if v, ok := header(req.headers, name); ok && sm.match(v, false) {
			return triFalse
		}
	}
	return res
}

// header looks a header up by its lower-case name, then case-insensitively.
func header(h map[string]string, name string) (string, bool) {
	if v, ok := h[name]; ok {
		return v, true
	}
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return "", false
}

// Decide returns what a sidecar configured with c does with req: route match (R8–R10), weighted
// pick with pick in [0,1) (R6), and the fallback decision against h (R12–R17). Ports missing
// from the configuration are taken from the authority, else 80, so the result can be written as
// a log record. The function is pure.
func (c *Config) Decide(req Request, pick float64, h Health) Decision {
	if h == nil {
		h = AllHealthy
	}
	vs := c.VirtualServiceFor(req.Authority)
	if vs == nil {
		return Decision{}
	}
	var d Decision
	var route *Route
	view := reqView{authority: []byte(req.Authority), method: []byte(req.Method), path: []byte(req.Path), headers: req.Headers}
	for _, r := range vs.Routes() {
		m := matchRoute(r, &view)
		if m == triFalse {
			continue
		}
		if m == triUnknown {
			if !d.MatchUnknown {
				d.MatchUnknown = true
				if route == nil {
					route = r
				}
			}
			continue
		}
		if route == nil {
			route = r
		}
		break
	}
	if route == nil {
		// R10: no route matches.
		d.ResponseCode = 404
		d.Flags = d.Flags.With(parse.FlagNR)
		return d
	}
	d.Route = route
	if route.Action != ActionRoute {
		return d
	}
	dest := pickDestination(route, pick)
	if dest == nil {
		d.ResponseCode = 503
		d.Flags = d.Flags.With(parse.FlagNR)
		return d
	}
	d.Destination = dest
	defPort := authorityPort(req.Authority)
	if defPort == 0 {
		defPort = 80
	}
	port := func(e Endpoint) int {
		if p := c.portOf(e); p != 0 {
			return p
		}
		return defPort
	}
	a := dest.Endpoint.Cluster(port(dest.Endpoint))
	aExists := c.subsetDefined(dest.Endpoint)
	fb := dest.Fallback
	d.UpstreamCluster = a
	if aExists && h.Healthy(a) {
		d.ResponseCode = 200
		return d // R14
	}
	if fb == nil {
		d.ResponseCode = 503
		if aExists {
			d.Flags = d.Flags.With(parse.FlagUH) // R14
		} else {
			d.Flags = d.Flags.With(parse.FlagNC) // R5
		}
		return d
	}
	b := fb.Target.Cluster(port(fb.Target))
	d.FallbackPath = []string{a, b}
	if c.subsetDefined(fb.Target) && h.Healthy(b) {
		d.UpstreamCluster, d.FinalCluster = b, b // R15
		d.Result = parse.ResultSuccess
		d.ResponseCode = 200
		return d
	}
	d.Result = parse.ResultFailed // R16, R17: B's own fallback is not consulted
	d.ResponseCode = 503
	d.Flags = d.Flags.With(parse.FlagUH)
	return d
}

// pickDestination is the weighted draw (R6); health is ignored (R12).
func pickDestination(r *Route, pick float64) *Destination {
	total := r.totalWeight()
	if total <= 0 {
		return nil
	}
	if pick < 0 {
		pick = 0
	}
	x := pick * float64(total)
	acc := 0
	var last *Destination
	for _, d := range r.Destinations {
		w := r.weightOf(d)
		if w <= 0 {
			continue
		}
		acc += w
		last = d
		if x < float64(acc) {
			return d
		}
	}
	return last
}
