package routing

import (
	"maps"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// DefaultDomain is the cluster domain used to complete short host names (R1).
const DefaultDomain = "cluster.local"

// DefaultNamespace is the namespace of a resource whose metadata names none, as kubectl apply
// would use in a default context.
const DefaultNamespace = "default"

// LoadOptions tunes how configuration is read and resolved. A command line maps onto it
// directly: `--namespace` is Namespace, `--domain` is Domain (as kubectl's namespace and the
// cluster's DNS domain); pass it to LoadWith (paths) or LoadBytes (one stream).
type LoadOptions struct {
	// Domain completes short host names (R1); empty means DefaultDomain.
	Domain string
	// Namespace is the namespace of resources whose metadata names none, as `kubectl apply
	// --namespace` would give them; empty means DefaultNamespace. It is also the namespace short
	// host names of such resources resolve in (R1).
	Namespace string
	// Ports maps a service FQDN to its port, used for destinations without port.number (R2).
	// Destinations whose port is known neither way accept any port when checking records.
	Ports map[string]int
}

// ConfigOptions is another name for LoadOptions.
type ConfigOptions = LoadOptions

func (o LoadOptions) withDefaults() LoadOptions {
	if o.Domain == "" {
		o.Domain = DefaultDomain
	}
	if o.Namespace == "" {
		o.Namespace = DefaultNamespace
	}
	return o
}

// Source is where a resource or one of its parts was read.
type Source struct {
	File   string
	Line   int
	Column int
}

// Config is a set of VirtualServices and DestinationRules, resolved to FQDNs and cluster names.
// It is read-only after Load and safe for concurrent use.
type Config struct {
	Domain           string
	VirtualServices  []*VirtualService
	DestinationRules []*DestinationRule
	// Ignored lists what was skipped: resources of other kinds ("<file>:<line>: <kind> <name>")
	// and documents that are not Kubernetes objects at all, such as a Helm Chart.yaml or
	// values.yaml, a package.json or an OpenAPI file: top-level documents without kind
	// ("<file>:<line>: not a Kubernetes object (no apiVersion and kind)").
	Ignored []string
	// Notes are facts about the input worth telling the user that do not make it wrong, such as
	// one object defined twice, in load order.
	Notes []Note

	ports    map[string]int
	byHost   map[string]*VirtualService // FQDN -> first VirtualService naming it
	byShort  map[string]*VirtualService // first label -> VirtualService, nil when ambiguous
	subsets  map[string]map[string]bool // FQDN -> subsets defined by some DestinationRule
	services map[string]bool            // every FQDN the configuration names
	// delegation are the findings of resolving delegate VirtualServices.
	delegation []Finding
	// unknownMsgs caches the messages of "no VirtualService" verdicts by authority and cluster
	// for every Checker of the configuration: hosts without a VirtualService are common, and
	// their records should cost no allocation, but authorities are chosen by clients, so the
	// cache is bounded per process, not per Checker.
	unknownMsgs *msgCache
}

// Note is something Load tells the user about the input without it being a problem.
type Note struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Message string `json:"message"`
}

// String is "<file>:<line>: <message>".
func (n Note) String() string { return n.File + ":" + strconv.Itoa(n.Line) + ": " + n.Message }

// VirtualService is one VirtualService resource.
type VirtualService struct {
	Name      string
	Namespace string
	Source
	// Hosts are the spec.hosts resolved to FQDNs (R1). A VirtualService without hosts is a
	// delegate: it is used only through the delegate field of another one's routes.
	Hosts    []string
	Gateways []string
	// ExportTo is spec.exportTo as written; empty means every namespace.
	ExportTo []string
	// HTTP are the http[] routes as written.
	HTTP []*Route

	// written are the hosts as written, for Istio's validation.
	written []string
	// routes are the routes a request is matched against: HTTP with each delegating route
	// replaced by the delegate's routes merged with it, as Istio merges them.
	routes []*Route
}

// IsDelegate reports whether v is a delegate VirtualService (no hosts).
func (v *VirtualService) IsDelegate() bool { return len(v.Hosts) == 0 }

// Routes returns the routes requests are matched against, in order: the http[] routes with
// delegation resolved (each delegating route replaced by the delegate's routes, matches merged,
// conflicting ones dropped, as Istio does). Before the configuration is indexed it is HTTP.
func (v *VirtualService) Routes() []*Route {
	if v.routes == nil {
		return v.HTTP
	}
	return v.routes
}

// exportedTo reports whether v is visible in namespace ns (spec.exportTo; "." is v's own).
func (v *VirtualService) exportedTo(ns string) bool {
	if len(v.ExportTo) == 0 {
		return true
	}
	for _, e := range v.ExportTo {
		if e == "*" || e == ns || (e == "." && ns == v.Namespace) {
			return true
		}
	}
	return false
}

// ID is "<namespace>/<name>".
func (v *VirtualService) ID() string { return v.Namespace + "/" + v.Name }

// Resource is "virtualservice <namespace>/<name>", as used in messages.
func (v *VirtualService) Resource() string { return "virtualservice " + v.ID() }

// Action says what an HTTP route does with a matched request.
type Action uint8

const (
	// ActionRoute forwards to the route's destinations.
	ActionRoute Action = iota
	// ActionRedirect answers with a redirect.
	ActionRedirect
	// ActionDirectResponse answers with a fixed response.
	ActionDirectResponse
	// ActionDelegate hands the request to a delegate VirtualService (Route.Delegate).
	ActionDelegate
)

// DelegateRef names the delegate VirtualService of a route; Namespace defaults to the root's.
type DelegateRef struct {
	Name      string
	Namespace string
	Source
}

// ID is "<namespace>/<name>".
func (d *DelegateRef) ID() string { return d.Namespace + "/" + d.Name }

// Route is one entry of a VirtualService's http[] list.
type Route struct {
	VirtualService *VirtualService
	Index          int
	Name           string
	Source
	// Matches are ORed match blocks (R8); nil means the route matches every request.
	Matches      []*Match
	Destinations []*Destination
	Action       Action
	// RetryAttempts is retries.attempts; -1 when absent (Istio's default retries, R7).
	RetryAttempts int
	// Delegate is set with ActionDelegate.
	Delegate *DelegateRef
	// Via is, for a route of a delegate merged into a root VirtualService, the root's
	// delegating route; nil otherwise. VirtualService and Index then name the delegate's route.
	Via *Route

	label      string
	weightSum  int
	hasFallbck bool
}

// Label identifies the route for the metrics `route` label:
// "<namespace>/<vs name>#<http[].name or index>".
func (r *Route) Label() string { return r.label }

// Path is "http[<index>]".
func (r *Route) Path() string { return "http[" + strconv.Itoa(r.Index) + "]" }

// Active returns the destinations a request can be sent to (R6): all of one, else those with
// weight > 0.
func (r *Route) Active() []*Destination {
	if len(r.Destinations) == 1 {
		return r.Destinations
	}
	out := make([]*Destination, 0, len(r.Destinations))
	for _, d := range r.Destinations {
		if d.Weight > 0 {
			out = append(out, d)
		}
	}
	return out
}

// Share is the fraction of the route's requests the weighted pick sends to d (R6).
func (r *Route) Share(d *Destination) float64 {
	if len(r.Destinations) == 1 {
		return 1
	}
	if r.weightSum <= 0 || d.Weight <= 0 {
		return 0
	}
	return float64(d.Weight) / float64(r.weightSum)
}

// weightOf is the integer weight the pick uses for d (R6).
func (r *Route) weightOf(d *Destination) int {
	if len(r.Destinations) == 1 {
		return 1
	}
	if d.Weight < 0 {
		return 0
	}
	return d.Weight
}

func (r *Route) totalWeight() int {
	if len(r.Destinations) == 1 {
		return 1
	}
	return r.weightSum
}

// Endpoint is a service subset: FQDN, subset ("" for none) and port (0 when unknown).
type Endpoint struct {
	Host   string
	Subset string
	Port   int
}

// Key is "<fqdn>/<subset>".
func (e Endpoint) Key() string { return e.Host + "/" + e.Subset }

// Cluster is the Envoy cluster name (R2) with the given port when e has none.
func (e Endpoint) Cluster(defaultPort int) string {
	p := e.Port
	if p == 0 {
		p = defaultPort
	}
	ps := ""
	if p > 0 {
		ps = strconv.Itoa(p)
	}
	return "outbound|" + ps + "|" + e.Subset + "|" + e.Host
}

// matches reports whether a decoded outbound cluster is this endpoint; a zero port matches any.
func (e Endpoint) matches(port int, subset, fqdn []byte) bool {
	return (e.Port == 0 || e.Port == port) && string(subset) == e.Subset && string(fqdn) == e.Host
}

// Destination is one http[].route[] entry.
type Destination struct {
	Endpoint
	Source
	// Path is the path inside the resource, e.g. "http[0].route[1]".
	Path      string
	Weight    int
	WeightSet bool
	Fallback  *Fallback
}

// Fallback is ASM's fallback on a route destination (R3).
type Fallback struct {
	Case   string
	Target Endpoint
	Source
}

// MatchKind is the kind of a StringMatch.
type MatchKind uint8

const (
	MatchExact MatchKind = iota + 1
	MatchPrefix
	MatchRegex
	// MatchPresent is an empty StringMatch on a header (`end-user: {}`): the header is present,
	// whatever its value.
	MatchPresent
)

// StringMatch is Istio's StringMatch (R9).
type StringMatch struct {
	Kind  MatchKind
	Value string
	re    *regexp.Regexp
}

func (m *StringMatch) match(s string, ignoreCase bool) bool {
	switch m.Kind {
	case MatchExact:
		if ignoreCase {
			return strings.EqualFold(s, m.Value)
		}
		return s == m.Value
	case MatchPrefix:
		if ignoreCase {
			return len(s) >= len(m.Value) && strings.EqualFold(s[:len(m.Value)], m.Value)
		}
		return strings.HasPrefix(s, m.Value)
	case MatchRegex:
		return m.re.MatchString(s)
	case MatchPresent:
		return true
	}
	return false
}

// matchBytes is match on bytes, without allocating.
func (m *StringMatch) matchBytes(s []byte, ignoreCase bool) bool {
	switch m.Kind {
	case MatchExact:
		if ignoreCase {
			return len(s) == len(m.Value) && equalFoldASCII(s, m.Value)
		}
		return string(s) == m.Value
	case MatchPrefix:
		if len(s) < len(m.Value) {
			return false
		}
		if ignoreCase {
			return equalFoldASCII(s[:len(m.Value)], m.Value)
		}
		return string(s[:len(m.Value)]) == m.Value
	case MatchRegex:
		return m.re.Match(s)
	case MatchPresent:
		return true
	}
	return false
}

func equalFoldASCII(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

func (m *StringMatch) String() string {
	if m == nil {
		return "<none>"
	}
	if m.Kind == MatchPresent {
		return "present"
	}
	return [...]string{"", "exact", "prefix", "regex"}[m.Kind] + ":" + strconv.Quote(m.Value)
}

// Match is one HTTPMatchRequest block; its conditions are ANDed (R8).
type Match struct {
	Name      string
	URI       *StringMatch
	Method    *StringMatch
	Authority *StringMatch
	Scheme    *StringMatch
	Headers   map[string]*StringMatch
	// WithoutHeaders match when the header is absent or does not match (R9).
	WithoutHeaders map[string]*StringMatch
	IgnoreURICase  bool
	// Conditions an access log cannot show; compared by value for duplicates and delegation.
	Port            int
	Gateways        []string
	SourceLabels    map[string]string
	SourceNamespace string
	QueryParams     map[string]*StringMatch
	// Opaque names conditions an access log cannot show (sourceLabels, gateways, port,
	// queryParams, sourceNamespace): such a block matches "unknown" (R9).
	Opaque []string
	Source
}

// catchAll reports whether the block matches every request.
func (m *Match) catchAll() bool {
	return m.Method == nil && m.Authority == nil && m.Scheme == nil && len(m.Headers) == 0 &&
		len(m.WithoutHeaders) == 0 && len(m.Opaque) == 0 && (m.URI == nil || (m.URI.Kind == MatchPrefix && m.URI.Value == "/"))
}

// signature is a canonical text of the block's conditions, for duplicate detection.
func (m *Match) signature() string {
	var b strings.Builder
	b.WriteString("uri=" + m.URI.String())
	if m.IgnoreURICase {
		b.WriteString(",icase")
	}
	b.WriteString(",method=" + m.Method.String() + ",authority=" + m.Authority.String() + ",scheme=" + m.Scheme.String())
	writeMatches(&b, ",h:", m.Headers)
	writeMatches(&b, ",without:", m.WithoutHeaders)
	writeMatches(&b, ",query:", m.QueryParams)
	if m.Port != 0 {
		b.WriteString(",port=" + strconv.Itoa(m.Port))
	}
	if m.Gateways != nil {
		b.WriteString(",gateways=" + strconv.Quote(strings.Join(m.Gateways, ",")))
	}
	if m.SourceLabels != nil {
		keys := slices.Sorted(maps.Keys(m.SourceLabels))
		b.WriteString(",sourceLabels=")
		for _, k := range keys {
			b.WriteString(strconv.Quote(k) + ":" + strconv.Quote(m.SourceLabels[k]) + ";")
		}
	}
	if m.SourceNamespace != "" {
		b.WriteString(",sourceNamespace=" + strconv.Quote(m.SourceNamespace))
	}
	return b.String()
}

func writeMatches(b *strings.Builder, prefix string, ms map[string]*StringMatch) {
	for _, k := range slices.Sorted(maps.Keys(ms)) {
		b.WriteString(prefix + strconv.Quote(k) + "=" + ms[k].String())
	}
}

// DestinationRule is one DestinationRule resource.
type DestinationRule struct {
	Name      string
	Namespace string
	Source
	Host    string // FQDN (R1)
	Subsets []string
}

// fqdn resolves a host name in a namespace (R1).
func fqdn(host, namespace, domain string) string {
	if host == "" || strings.ContainsAny(host, ".*:") {
		return host
	}
	return host + "." + namespace + ".svc." + domain
}

// shortName is the first label of an FQDN.
func shortName(h string) string {
	if i := strings.IndexByte(h, '.'); i >= 0 {
		return h[:i]
	}
	return h
}

// index builds the lookup tables once every resource is loaded.
func (c *Config) index() {
	c.byHost = map[string]*VirtualService{}
	c.byShort = map[string]*VirtualService{}
	c.subsets = map[string]map[string]bool{}
	c.services = map[string]bool{}
	c.unknownMsgs = newMsgCache(maxCachedMessages)
	c.resolveDelegates()
	for _, dr := range c.DestinationRules {
		c.services[dr.Host] = true
		m := c.subsets[dr.Host]
		if m == nil {
			m = map[string]bool{}
			c.subsets[dr.Host] = m
		}
		for _, s := range dr.Subsets {
			m[s] = true
		}
	}
	for _, vs := range c.VirtualServices {
		for _, h := range vs.Hosts {
			c.services[h] = true
			if _, ok := c.byHost[h]; !ok {
				c.byHost[h] = vs
			}
			s := shortName(h)
			if prev, ok := c.byShort[s]; !ok {
				c.byShort[s] = vs
			} else if prev != vs {
				c.byShort[s] = nil // ambiguous
			}
		}
		for _, r := range vs.HTTP {
			for _, d := range r.Destinations {
				c.services[d.Host] = true
				if d.Fallback != nil {
					c.services[d.Fallback.Target.Host] = true
				}
			}
		}
	}
}

// subsetDefined reports whether a DestinationRule defines e's subset; an endpoint without subset
// always exists (R5).
func (c *Config) subsetDefined(e Endpoint) bool {
	if e.Subset == "" {
		return true
	}
	return c.subsets[e.Host][e.Subset]
}

// portOf is the port of e from the destination itself or the configured service ports.
func (c *Config) portOf(e Endpoint) int {
	if e.Port != 0 {
		return e.Port
	}
	return c.ports[e.Host]
}

// Services returns every service FQDN the configuration names, sorted.
func (c *Config) Services() []string {
	out := make([]string, 0, len(c.services))
	for s := range c.services {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// Subsets returns the subsets DestinationRules define for a service FQDN, sorted.
func (c *Config) Subsets(host string) []string {
	out := make([]string, 0, len(c.subsets[host]))
	for s := range c.subsets[host] {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// VirtualServiceFor returns the VirtualService for an authority or host name: the port is
// stripped, then the host is looked up as an FQDN, then completed with ".svc.<domain>" or
// "."+domain, then as a short name unique among all VirtualService hosts. Nil when none.
func (c *Config) VirtualServiceFor(authority string) *VirtualService {
	return c.vsForHost([]byte(authority), nil)
}

// vsForHost is VirtualServiceFor on bytes with a scratch buffer; it does not allocate.
func (c *Config) vsForHost(authority []byte, scratch *[]byte) *VirtualService {
	h := stripPort(authority)
	if len(h) == 0 {
		return nil
	}
	if vs, ok := c.byHost[string(h)]; ok {
		return vs
	}
	dots := 0
	for _, b := range h {
		if b == '.' {
			dots++
		}
	}
	if dots == 0 {
		return c.byShort[string(h)]
	}
	var buf []byte
	if scratch != nil {
		buf = (*scratch)[:0]
	}
	switch dots {
	case 1: // name.namespace
		buf = append(append(append(buf, h...), ".svc."...), c.Domain...)
	case 2: // name.namespace.svc
		buf = append(append(append(buf, h...), '.'), c.Domain...)
	default:
		return nil
	}
	if scratch != nil {
		*scratch = buf
	}
	return c.byHost[string(buf)]
}

// stripPort removes a ":port" suffix from an authority, keeping IPv6 brackets' content.
func stripPort(a []byte) []byte {
	if len(a) > 0 && a[0] == '[' {
		for i := 1; i < len(a); i++ {
			if a[i] == ']' {
				return a[1:i]
			}
		}
		return a
	}
	for i := len(a) - 1; i >= 0; i-- {
		if a[i] == ':' {
			return a[:i]
		}
		if a[i] < '0' || a[i] > '9' {
			break
		}
	}
	return a
}

// authorityPort returns the port of an authority, 0 when it has none.
func authorityPort(a string) int {
	i := strings.LastIndexByte(a, ':')
	if i < 0 || strings.HasSuffix(a, "]") {
		return 0
	}
	p, err := strconv.Atoi(a[i+1:])
	if err != nil || p < 1 || p > 65535 {
		return 0
	}
	return p
}
