package routing

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/fallbackwatch/fallbackwatch/parse"
)

// VerdictKind classifies a checked record.
type VerdictKind uint8

const (
	// Consistent: the record is what the configuration demands.
	Consistent VerdictKind = iota
	// Inconsistent: the record breaks a rule (C1–C6).
	Inconsistent
	// Warning: the record contradicts the health seen close to it in time (C6).
	Warning
	// Unknown: the configuration cannot judge the record (no VirtualService for the host,
	// unknown fallback_result).
	Unknown
)

func (k VerdictKind) String() string {
	switch k {
	case Consistent:
		return "consistent"
	case Inconsistent:
		return "inconsistent"
	case Warning:
		return "warning"
	case Unknown:
		return "unknown"
	}
	return "invalid"
}

// MarshalText prints the kind by name in JSON.
func (k VerdictKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// Verdict is the checker's judgement of one record.
type Verdict struct {
	Kind VerdictKind
	// Rule is the rule broken ("C1".."C6"), "" when consistent or unknown.
	Rule string
	// Message names the expected and recorded clusters; empty when consistent.
	Message string
	// Route is the route the record was judged against; nil when none.
	Route *Route
}

// CheckOptions tunes a Checker.
type CheckOptions struct {
	// MultiHop accepts fallback paths longer than two clusters when every edge is configured
	// (C4); by default they are inconsistent (R17).
	MultiHop bool
	// OutlierUnhealthy records that outlier-ejected hosts count as unhealthy (R13). Records
	// cannot show ejection, so it only documents the assumption behind a given Health timeline.
	OutlierUnhealthy bool
	// HealthMargin: decisions this close to a health change are warnings (C6). Zero means 5s.
	HealthMargin time.Duration
	// Health is a given timeline; when nil the checker infers one from the records it checks.
	Health *Timeline
}

// Checker judges access-log records against a configuration (C1–C6). It keeps the inferred
// health timeline between calls, so it is not safe for concurrent use: give each goroutine its
// own (they share the read-only Config).
type Checker struct {
	cfg      *Config
	opts     CheckOptions
	given    bool
	timeline *Timeline
	scratch  []byte
	observed bool // the inferred timeline already has the current record

	// clusters caches what the checker learnt about each cluster name it met.
	clusters map[string]*clusterInfo
	// lastAuth and lastVS cache the VirtualService of the previous record's authority.
	lastAuth []byte
	lastVS   *VirtualService
	hasLast  bool
}

// noVirtualService explains an Unknown verdict for a record whose host has no VirtualService.
// The messages are cached in the Config, shared by all its Checkers and bounded: authorities
// are chosen by clients, so the cache must not grow with them.
func (ch *Checker) noVirtualService(rec *parse.Record) string {
	k := append(append(append(ch.scratch[:0], rec.Authority...), 0), rec.PrimaryCluster()...)
	ch.scratch = k
	cache := ch.cfg.unknownMsgs
	if msg, ok := cache.get(k); ok {
		return msg
	}
	msg := fmt.Sprintf("no VirtualService for authority %q or cluster %q", clip(rec.Authority), clip(rec.PrimaryCluster()))
	cache.put(k, msg)
	return msg
}

// msgCache is a bounded map from a record key to a message, shared by the Checkers of one Config
// and safe for concurrent use. Once full it keeps what it has; a nil *msgCache caches nothing.
type msgCache struct {
	mu  sync.RWMutex
	m   map[string]string
	max int
}

// Bounds of the shared message cache: entries, and the longest key cached.
const (
	maxCachedMessages = 4096
	maxCachedKey      = 512
)

func newMsgCache(max int) *msgCache { return &msgCache{m: map[string]string{}, max: max} }

func (c *msgCache) get(k []byte) (string, bool) {
	if c == nil {
		return "", false
	}
	c.mu.RLock()
	v, ok := c.m[string(k)]
	c.mu.RUnlock()
	return v, ok
}

func (c *msgCache) put(k []byte, v string) {
	if c == nil || len(k) > maxCachedKey {
		return
	}
	c.mu.Lock()
	if len(c.m) < c.max {
		c.m[string(k)] = v
	}
	c.mu.Unlock()
}

// len is the number of cached entries.
func (c *msgCache) len() int {
	if c == nil {
		return 0
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}

// clusterInfo is what a Checker remembers about one cluster name.
type clusterInfo struct {
	hist    *history // inferred health history; nil with a given timeline
	dests   []routeDest
	targets []targetHit
}

type routeDest struct {
	r *Route
	d *Destination
}

type targetHit struct {
	fb *Fallback
	ok bool
}

// Cache bounds: distinct cluster names remembered, and per-name route and target entries.
const (
	maxClusters     = 1 << 16
	maxCacheEntries = 64
)

// info returns the checker's record of a cluster name.
func (ch *Checker) info(cluster []byte) *clusterInfo {
	if ci := ch.clusters[string(cluster)]; ci != nil {
		return ci
	}
	ci := &clusterInfo{}
	if !ch.given {
		ci.hist = ch.timeline.get(cluster, true)
	}
	if len(ch.clusters) < maxClusters {
		ch.clusters[string(cluster)] = ci
	}
	return ci
}

// destFor is the cached form of destFor (C1).
func (ch *Checker) destFor(r *Route, cluster []byte) *Destination {
	ci := ch.info(cluster)
	for _, rd := range ci.dests {
		if rd.r == r {
			return rd.d
		}
	}
	d := destFor(r, cluster)
	if len(ci.dests) < maxCacheEntries {
		ci.dests = append(ci.dests, routeDest{r, d})
	}
	return d
}

// targetIs is the cached form of clusterIs for fallback targets.
func (ch *Checker) targetIs(fb *Fallback, cluster []byte) bool {
	ci := ch.info(cluster)
	for _, t := range ci.targets {
		if t.fb == fb {
			return t.ok
		}
	}
	ok := clusterIs(fb.Target, cluster)
	if len(ci.targets) < maxCacheEntries {
		ci.targets = append(ci.targets, targetHit{fb, ok})
	}
	return ok
}

// virtualService finds the VirtualService for a record's authority, remembering the last one.
func (ch *Checker) virtualService(authority []byte) *VirtualService {
	if ch.hasLast && string(authority) == string(ch.lastAuth) {
		return ch.lastVS
	}
	vs := ch.cfg.vsForHost(authority, &ch.scratch)
	ch.lastAuth = append(ch.lastAuth[:0], authority...)
	ch.lastVS, ch.hasLast = vs, true
	return vs
}

// NewChecker returns a checker for c.
func NewChecker(c *Config, opts CheckOptions) *Checker {
	if opts.HealthMargin == 0 {
		opts.HealthMargin = 5 * time.Second
	}
	ch := &Checker{cfg: c, opts: opts, timeline: opts.Health, given: opts.Health != nil, clusters: map[string]*clusterInfo{}}
	if ch.timeline == nil {
		ch.timeline = newTimeline(checkerIntervals)
	}
	return ch
}

// ForgetHealth drops the health the checker inferred from the records it saw (a given
// timeline stays): the next record is judged as if it were the first. collector replay calls it
// at each block of input, so that a verdict depends on the block's records only, never on which
// other blocks the same worker read before.
func (ch *Checker) ForgetHealth() {
	if !ch.given {
		ch.timeline = newTimeline(checkerIntervals)
		ch.observed = false
		ch.clusters = map[string]*clusterInfo{} // their histories point into the old timeline
	}
}

// Timeline returns the checker's health timeline: the given one or the one inferred so far.
func (ch *Checker) Timeline() *Timeline { return ch.timeline }

// reason says which rule a record broke; the message is built from it only when needed.
type reason uint8

const (
	okay reason = iota
	rNoRoute
	rNotDestination
	rFallbackExpected
	rMetadataWithoutResult
	rNoFallbackConfigured
	rPathMissing
	rWrongTarget
	rFinalMismatch
	rUpstreamNotTarget
	rFlagsNRNC
	rFailedCode
	rFailedUpstream
	rFailedFinal
	rMultiHop
	rMultiHopEdge
	rNRMetadata
	rDirectMetadata
)

var reasonRule = [...]string{
	rNoRoute: "C1", rNotDestination: "C1", rFallbackExpected: "C1", rMetadataWithoutResult: "C1",
	rNoFallbackConfigured: "C2", rPathMissing: "C2", rWrongTarget: "C2", rFinalMismatch: "C2",
	rUpstreamNotTarget: "C2", rFlagsNRNC: "C2", rFailedCode: "C3", rFailedUpstream: "C3",
	rFailedFinal: "C3", rMultiHop: "C4", rMultiHopEdge: "C4", rNRMetadata: "C5", rDirectMetadata: "C5",
}

// ruleFor names the rule a failure breaks. The primary cluster not being a destination of the
// route is C1 for a record without fallback, C2 for a successful fallback and C3 for a failed one:
// each of those rules requires it.
func ruleFor(why reason, rec *parse.Record) string {
	if why == rNotDestination {
		switch rec.Result {
		case parse.ResultSuccess:
			return "C2"
		case parse.ResultFailed:
			return "C3"
		}
	}
	return reasonRule[why]
}

type failure struct {
	why   reason
	route *Route
	dest  *Destination // the destination A resolved to, when any
}

// Check judges rec, recorded at time at (zero: unknown, no health check). Unless a timeline was
// given, it also adds rec's health evidence to the inferred timeline (C6). It does not allocate
// for consistent records.
func (ch *Checker) Check(rec *parse.Record, at time.Time) Verdict {
	ch.observed = false
	v := ch.check(rec, at)
	if !ch.given && !at.IsZero() && !ch.observed {
		ch.timeline.Observe(rec, at)
	}
	return v
}

func (ch *Checker) check(rec *parse.Record, at time.Time) Verdict {
	if rec.Result == parse.ResultUnknown {
		return Verdict{Kind: Unknown, Message: fmt.Sprintf("fallback_result %q is not one ASM writes (R23)", rec.FallbackResult)}
	}
	vs := ch.virtualService(rec.Authority)
	if vs == nil {
		if ref, err := parse.SplitCluster(rec.PrimaryCluster()); err == nil && ref.Kind == parse.ClusterOutbound {
			vs = ch.cfg.byHost[string(ref.FQDN)]
		}
	}
	if vs == nil {
		return Verdict{Kind: Unknown, Message: ch.noVirtualService(rec)}
	}
	hasMeta := rec.Result != parse.ResultNone || len(rec.Clusters) > 0 || len(rec.FallbackFinalCluster) > 0
	if rec.Flags.Has(parse.FlagNR) || rec.Flags.Has(parse.FlagNC) {
		// C5: the request never reached a fallback decision.
		if hasMeta {
			return ch.verdict(failure{why: rNRMetadata}, rec)
		}
		return Verdict{Kind: Consistent}
	}
	req := reqView{authority: rec.Authority, method: rec.Method, path: rec.Path}
	var first failure
	candidates := 0
	for _, r := range vs.Routes() {
		m := matchRoute(r, &req)
		if m == triFalse {
			continue
		}
		candidates++
		f := ch.checkRoute(r, rec, hasMeta)
		if f.why == okay {
			return ch.health(r, rec, at)
		}
		if candidates == 1 {
			first = f
		}
		if m == triTrue {
			break
		}
	}
	if candidates == 0 {
		first = failure{why: rNoRoute}
	}
	if first.route == nil && candidates == 0 {
		return ch.verdictVS(first, rec, vs)
	}
	return ch.verdict(first, rec)
}

// checkRoute checks rec against route r (C1–C5).
func (ch *Checker) checkRoute(r *Route, rec *parse.Record, hasMeta bool) failure {
	if r.Action != ActionRoute {
		if hasMeta {
			return failure{why: rDirectMetadata, route: r}
		}
		return failure{}
	}
	switch rec.Result {
	case parse.ResultNone:
		if hasMeta {
			return failure{why: rMetadataWithoutResult, route: r}
		}
		d := ch.destFor(r, rec.UpstreamCluster)
		if d == nil {
			return failure{why: rNotDestination, route: r}
		}
		if rec.Flags.Has(parse.FlagUH) && d.Fallback != nil {
			return failure{why: rFallbackExpected, route: r, dest: d}
		}
		return failure{}
	case parse.ResultSuccess:
		if len(rec.Clusters) < 2 {
			return failure{why: rPathMissing, route: r}
		}
		d := ch.destFor(r, rec.Clusters[0])
		if d == nil {
			return failure{why: rNotDestination, route: r}
		}
		if f := ch.checkEdges(r, d, rec); f.why != okay {
			return f
		}
		b := rec.Clusters[len(rec.Clusters)-1]
		if len(rec.FallbackFinalCluster) == 0 || string(rec.FallbackFinalCluster) != string(b) {
			return failure{why: rFinalMismatch, route: r, dest: d}
		}
		if string(rec.UpstreamCluster) != string(b) {
			return failure{why: rUpstreamNotTarget, route: r, dest: d}
		}
		return failure{}
	case parse.ResultFailed:
		a := rec.UpstreamCluster
		if len(rec.Clusters) > 0 {
			a = rec.Clusters[0]
		}
		d := ch.destFor(r, a)
		if d == nil {
			return failure{why: rNotDestination, route: r}
		}
		if d.Fallback == nil {
			return failure{why: rNoFallbackConfigured, route: r, dest: d}
		}
		if rec.ResponseCode != 503 || !rec.Flags.Has(parse.FlagUH) {
			return failure{why: rFailedCode, route: r, dest: d}
		}
		if string(rec.UpstreamCluster) != string(a) {
			return failure{why: rFailedUpstream, route: r, dest: d}
		}
		if len(rec.FallbackFinalCluster) > 0 {
			return failure{why: rFailedFinal, route: r, dest: d}
		}
		if len(rec.Clusters) > 0 {
			return ch.checkEdges(r, d, rec)
		}
		return failure{}
	}
	return failure{}
}

// checkEdges checks that every edge of the fallback path is configured (C2, C3, C4).
func (ch *Checker) checkEdges(r *Route, d *Destination, rec *parse.Record) failure {
	if len(rec.Clusters) > 2 && !ch.opts.MultiHop {
		return failure{why: rMultiHop, route: r, dest: d}
	}
	cur := d
	for i := 1; i < len(rec.Clusters); i++ {
		if cur == nil || cur.Fallback == nil {
			if i == 1 {
				return failure{why: rNoFallbackConfigured, route: r, dest: d}
			}
			return failure{why: rMultiHopEdge, route: r, dest: d}
		}
		if !ch.targetIs(cur.Fallback, rec.Clusters[i]) {
			if i == 1 {
				return failure{why: rWrongTarget, route: r, dest: d}
			}
			return failure{why: rMultiHopEdge, route: r, dest: d}
		}
		if i+1 < len(rec.Clusters) {
			cur = anyDestFor(r, rec.Clusters[i])
		}
	}
	if rec.Result == parse.ResultSuccess && (rec.Flags.Has(parse.FlagNR) || rec.Flags.Has(parse.FlagNC)) {
		return failure{why: rFlagsNRNC, route: r, dest: d}
	}
	return failure{}
}

// clusterIs reports whether a cluster name denotes endpoint e (any port when e has none).
func clusterIs(e Endpoint, cluster []byte) bool {
	ref, err := parse.SplitCluster(cluster)
	if err != nil || ref.Kind != parse.ClusterOutbound {
		return false
	}
	return e.matches(ref.Port, ref.Subset, ref.FQDN)
}

// destFor returns the destination of r that the weighted pick can choose and that cluster
// names (C1).
func destFor(r *Route, cluster []byte) *Destination {
	ref, err := parse.SplitCluster(cluster)
	if err != nil || ref.Kind != parse.ClusterOutbound {
		return nil
	}
	multi := len(r.Destinations) > 1
	for _, d := range r.Destinations {
		if multi && d.Weight <= 0 {
			continue
		}
		if d.matches(ref.Port, ref.Subset, ref.FQDN) {
			return d
		}
	}
	return nil
}

// anyDestFor is destFor including weight-0 destinations (for multi-hop edges).
func anyDestFor(r *Route, cluster []byte) *Destination {
	ref, err := parse.SplitCluster(cluster)
	if err != nil || ref.Kind != parse.ClusterOutbound {
		return nil
	}
	for _, d := range r.Destinations {
		if d.matches(ref.Port, ref.Subset, ref.FQDN) {
			return d
		}
	}
	return nil
}

// health compares the record's health evidence with the timeline (C6).
func (ch *Checker) health(r *Route, rec *parse.Record, at time.Time) Verdict {
	ok := Verdict{Kind: Consistent, Route: r}
	if at.IsZero() {
		return ok
	}
	var worst VerdictKind
	var bad []byte
	var badHealthy bool
	margin := ch.opts.HealthMargin
	ch.observed = !ch.given
	forEvidence(rec, func(cluster []byte, healthy bool) {
		var k VerdictKind
		if ch.given {
			st := ch.timeline.at(cluster, at)
			if st == HealthUnknown || (st == HealthUp) == healthy {
				return
			}
			k = Inconsistent
			if ch.timeline.changeNear(cluster, at, margin) {
				k = Warning
			}
		} else {
			h := ch.info(cluster).hist
			if h == nil {
				return // more clusters than the timeline tracks
			}
			last, ok := h.last()
			h.note(at, healthy)
			if !ok || last.Healthy == healthy || absDur(at.Sub(last.End)) > margin {
				return
			}
			k = Warning
		}
		if worst == Consistent || (k == Inconsistent && worst != Inconsistent) {
			worst, bad, badHealthy = k, cluster, healthy
		}
	})
	if worst == Consistent {
		return ok
	}
	seen := "healthy"
	if badHealthy {
		seen = "unhealthy"
	}
	src := "the health timeline"
	if !ch.given {
		src = "records less than " + margin.String() + " earlier"
	}
	msg := fmt.Sprintf("record at %s shows %s %s, but %s show it %s", at.UTC().Format(time.RFC3339Nano),
		bad, map[bool]string{true: "healthy", false: "unhealthy"}[badHealthy], src, seen)
	if worst == Warning {
		msg += "; close to a health change"
	}
	return Verdict{Kind: worst, Rule: "C6", Route: r, Message: msg}
}

func (ch *Checker) verdictVS(f failure, rec *parse.Record, vs *VirtualService) Verdict {
	return Verdict{Kind: Inconsistent, Rule: reasonRule[f.why],
		Message: fmt.Sprintf("no route of %s matches %s %s on %s (R8), so the request should get 404 NR, but the record shows %s (R10)",
			vs.Resource(), orDash(rec.Method), orDash(rec.Path), orDash(rec.Authority), describe(rec))}
}

func orDash(b []byte) string {
	if len(b) == 0 {
		return "-"
	}
	return string(b)
}

// describe summarises what a record shows.
func describe(rec *parse.Record) string {
	s := fmt.Sprintf("%d %s upstream_cluster %s", rec.ResponseCode, rec.Flags, orDash(rec.UpstreamCluster))
	if len(rec.FallbackResult) > 0 {
		s += fmt.Sprintf(", fallback_result %q", rec.FallbackResult)
	}
	if len(rec.FallbackPath) > 0 {
		s += ", fallback_path " + string(rec.FallbackPath)
	}
	if len(rec.FallbackFinalCluster) > 0 {
		s += ", fallback_final_cluster_name " + string(rec.FallbackFinalCluster)
	}
	return s
}

func destList(r *Route) string {
	var parts []string
	for _, d := range r.Active() {
		parts = append(parts, d.Key())
	}
	return strings.Join(parts, ", ")
}

// verdict builds the message for a failure; only inconsistent records pay for it.
func (ch *Checker) verdict(f failure, rec *parse.Record) Verdict {
	v := Verdict{Kind: Inconsistent, Rule: ruleFor(f.why, rec), Route: f.route}
	if rec.Result == parse.ResultFailed && (f.why == rWrongTarget || f.why == rNoFallbackConfigured) {
		v.Rule = "C3" // the same edge checks, for a failed fallback
	}
	r := f.route
	label := ""
	if r != nil {
		label = r.Label()
	}
	target := ""
	if f.dest != nil && f.dest.Fallback != nil {
		target = f.dest.Fallback.Target.Key()
	}
	var msg string
	switch f.why {
	case rNRMetadata:
		msg = fmt.Sprintf("a request answered with %s never reaches a fallback decision, but the record carries fallback metadata: %s", rec.Flags, describe(rec))
	case rDirectMetadata:
		msg = fmt.Sprintf("route %s answers directly, but the record carries fallback metadata: %s", label, describe(rec))
	case rMetadataWithoutResult:
		msg = fmt.Sprintf("record has fallback_path or fallback_final_cluster_name but no fallback_result: %s", describe(rec))
	case rNotDestination:
		msg = fmt.Sprintf("route %s sends requests to %s, but the record's first cluster is %s", label, destList(r), orDash(rec.PrimaryCluster()))
	case rFallbackExpected:
		msg = fmt.Sprintf("%s was unhealthy (UH) and falls back to %s, so a fallback was expected, but the record shows none (R14, R15)", f.dest.Key(), target)
	case rNoFallbackConfigured:
		msg = fmt.Sprintf("%s has no fallback in route %s, but the record shows one: %s", f.dest.Key(), label, describe(rec))
	case rPathMissing:
		msg = fmt.Sprintf("a successful fallback records fallback_path A:B, but the record has %q (R15)", orDash(rec.FallbackPath))
	case rWrongTarget:
		msg = fmt.Sprintf("%s falls back to %s, but the record's fallback_path goes to %s", f.dest.Key(), target, orDash(rec.FallbackCluster()))
	case rFinalMismatch:
		msg = fmt.Sprintf("after falling back to %s the final cluster should be %s, but fallback_final_cluster_name is %s (R15)",
			target, orDash(rec.Clusters[len(rec.Clusters)-1]), orDash(rec.FallbackFinalCluster))
	case rUpstreamNotTarget:
		msg = fmt.Sprintf("after falling back to %s upstream_cluster should be %s, but it is %s (R15)",
			target, orDash(rec.Clusters[len(rec.Clusters)-1]), orDash(rec.UpstreamCluster))
	case rFlagsNRNC:
		msg = fmt.Sprintf("a successful fallback cannot carry response flags %s (C2)", rec.Flags)
	case rFailedCode:
		msg = fmt.Sprintf("a failed fallback from %s to %s answers 503 UH, but the record shows %d %s (R16)", f.dest.Key(), target, rec.ResponseCode, rec.Flags)
	case rFailedUpstream:
		msg = fmt.Sprintf("a failed fallback keeps upstream_cluster at the chosen %s, but the record shows %s (R16)", orDash(rec.Clusters[0]), orDash(rec.UpstreamCluster))
	case rFailedFinal:
		msg = fmt.Sprintf("a failed fallback from %s has no final cluster, but the record names %s (R16)", f.dest.Key(), rec.FallbackFinalCluster)
	case rMultiHop:
		msg = fmt.Sprintf("fallback takes one hop (R17): %s falls back to %s only, but fallback_path has %d clusters: %s", f.dest.Key(), target, len(rec.Clusters), rec.FallbackPath)
	case rMultiHopEdge:
		msg = fmt.Sprintf("fallback_path %s has an edge no destination of route %s configures", rec.FallbackPath, label)
	default:
		msg = describe(rec)
	}
	v.Message = msg
	return v
}
