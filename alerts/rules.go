package alerts

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/fallbackwatch/fallbackwatch/topology"
)

// Alert names, stable: runbook anchors, Alertmanager routes and tests use them.
const (
	AlertFallbackSustained          = "FallbackSustained"
	AlertFallbackFailed             = "FallbackFailed"
	AlertUnprotectedOutage          = "UnprotectedOutage"
	AlertFallbackTargetOverCapacity = "FallbackTargetOverCapacity"
	AlertFallbackTargetLoadHigh     = "FallbackTargetLoadHigh"
	AlertFailoverExceedsCapacity    = "FailoverExceedsCapacity"
	AlertFailoverExceedsPeak        = "FailoverExceedsObservedPeak"
	AlertDecisionsInconsistent      = "FallbackDecisionsInconsistent"
	AlertCollectorAbsent            = "FallbackwatchCollectorAbsent"
	AlertCollectorDown              = "FallbackwatchCollectorDown"
	AlertLinesRejected              = "FallbackwatchLinesRejected"
	AlertKafkaLagGrowing            = "FallbackwatchKafkaLagGrowing"
	AlertLabelOverflow              = "FallbackwatchLabelOverflow"
	AlertConfigReloadFailed         = "FallbackwatchConfigReloadFailed"
	AlertRoutingWatchDown           = "FallbackwatchRoutingWatchDown"
)

// Static recording rules that put the configuration into Prometheus.
const (
	// RecordEdge is 1 for every configured fallback edge, labelled with route,
	// destination_service and primary_subset (the primary), fallback_service and fallback_subset
	// (the target) and final_service and final_subset (the target again, for joins with served load).
	RecordEdge = "fallbackwatch:fallback_edge:info"
	// RecordCapacity is the capacity in requests per second of a subset, by final_service and
	// final_subset.
	RecordCapacity = "final_service_final_subset:fallbackwatch_capacity:rps"
)

// Recorded rates; w is a window such as "5m".
func recRequests(w string) string {
	return "destination_service_primary_subset:fallbackwatch_requests:rate" + w
}
func recFallback(w string) string {
	return "destination_service_primary_subset:fallbackwatch_requests_fallback:rate" + w
}
func recFallbackRatio(w string) string {
	return "destination_service_primary_subset:fallbackwatch_requests_fallback:ratio_rate" + w
}
func recFailed(w string) string {
	return "destination_service_primary_subset:fallbackwatch_requests_failed:rate" + w
}
func recFailedRatio(w string) string {
	return "destination_service_primary_subset:fallbackwatch_requests_failed:ratio_rate" + w
}
func recRouteRequests(w string) string {
	return "route_destination_service_primary_subset:fallbackwatch_requests:rate" + w
}
func recRouteDirect(w string) string {
	return "route_destination_service_primary_subset:fallbackwatch_requests_direct:rate" + w
}

// recRouteUnprotected is the rate of 503 UH (no healthy upstream) with no fallback tried:
// fallbackwatch_upstream_unhealthy_total{result="none"} (R14). Other 5xx are not in it.
func recRouteUnprotected(w string) string {
	return "route_destination_service_primary_subset:fallbackwatch_upstream_unhealthy_without_fallback:rate" + w
}

// recRouteUnprotectedRatio is recRouteUnprotected as a share of the route's requests to the subset.
func recRouteUnprotectedRatio(w string) string {
	return "route_destination_service_primary_subset:fallbackwatch_upstream_unhealthy_without_fallback:ratio_rate" + w
}
func recServed(w string) string {
	return "final_service_final_subset:fallbackwatch_requests:rate" + w
}
func recServedByFallback(w string) string {
	return "final_service_final_subset:fallbackwatch_requests_fallback:rate" + w
}
func recFailoverLoad(w string) string {
	return "route_destination_service_primary_subset:fallbackwatch_failover_load:rate" + w
}
func recDecisions(w string) string { return "rule_verdict:fallbackwatch_decisions:rate" + w }
func recInconsistentRatio(w string) string {
	return "rule:fallbackwatch_decisions_inconsistent:ratio_rate" + w
}
func recLinesRead(w string) string     { return "source:fallbackwatch_lines_read:rate" + w }
func recLinesRejected(w string) string { return "source:fallbackwatch_lines_rejected:rate" + w }
func recLinesRejectedRatio(w string) string {
	return "source:fallbackwatch_lines_rejected:ratio_rate" + w
}

const recKafkaLag = "topic:fallbackwatch_kafka_consumer_lag:sum"

// gen holds what every expression needs.
type gen struct {
	o      Options
	t      *topology.Topology
	sel    []*labels.Matcher // the selector, for raw metrics
	keep   []string          // label names of the selector's = matchers, kept by aggregations
	keepEq []*labels.Matcher // those matchers, for recorded series
	short  string
	long   string
}

// Generate returns the rules for t (nil or empty: generic rules) with opts (zero fields take
// their defaults). It fails when opts are invalid or t names a capacity for a subset it does not
// define.
func Generate(t *topology.Topology, opts Options) (*RuleFile, error) {
	g, err := newGen(t, opts)
	if err != nil {
		return nil, err
	}
	f := &RuleFile{Groups: []Group{
		{Name: g.o.Name + ".rules", Rules: g.recordingRules()},
		{Name: g.o.Name + ".alerts", Rules: g.alertingRules()},
	}}
	if err := check(f); err != nil {
		return nil, err
	}
	return f, nil
}

func newGen(t *topology.Topology, opts Options) (*gen, error) {
	o := opts.WithDefaults()
	if err := o.Validate(); err != nil {
		return nil, fmt.Errorf("alert options: %w", err)
	}
	tc := &topology.Topology{Capacity: map[topology.Subset]float64{}}
	if t != nil {
		tc.Subsets = append(tc.Subsets, t.Subsets...)
		tc.Edges = append(tc.Edges, t.Edges...)
		for s, c := range t.Capacity {
			tc.Capacity[s] = c
		}
	}
	tc.Sort()
	var errs []error
	for s, c := range tc.Capacity {
		if !tc.Has(s) {
			errs = append(errs, fmt.Errorf("capacity for %s: subset is not defined by the routing configuration", s))
		}
		if !(c > 0) {
			errs = append(errs, fmt.Errorf("capacity for %s: %v is not a positive number of requests per second", s, c))
		}
	}
	for _, e := range tc.Edges {
		if e.Route == "" || e.From.Service == "" || e.To.Service == "" {
			errs = append(errs, fmt.Errorf("fallback edge %q %s -> %s: route, source and target service are required", e.Route, e.From, e.To))
		}
	}
	if len(errs) > 0 {
		sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
		return nil, errors.Join(errs...)
	}
	ms, _ := parseSelector(o.Selector) // validated
	g := &gen{o: o, t: tc, sel: ms, short: o.Windows.Short.String(), long: o.Windows.Long.String()}
	for _, m := range ms {
		if m.Type == labels.MatchEqual && m.Value != "" {
			g.keep = append(g.keep, m.Name)
			g.keepEq = append(g.keepEq, m)
		}
	}
	sort.Strings(g.keep)
	sort.Slice(g.keepEq, func(i, j int) bool { return g.keepEq[i].Name < g.keepEq[j].Name })
	return g, nil
}

// raw selects an exported metric with extra matchers and the selector.
func (g *gen) raw(metric string, extra ...string) string {
	return metric + braces(extra, g.sel)
}

// rec selects a recorded series with extra matchers and the selector's = matchers.
func (g *gen) rec(metric string, extra ...string) string {
	return metric + braces(extra, g.keepEq)
}

func braces(extra []string, ms []*labels.Matcher) string {
	parts := append([]string(nil), extra...)
	for _, m := range ms {
		parts = append(parts, m.String())
	}
	if len(parts) == 0 {
		return ""
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// by lists the selector's kept labels and then names, for by (...) and on (...).
func (g *gen) by(names ...string) string {
	return "(" + strings.Join(append(append([]string(nil), g.keep...), names...), ", ") + ")"
}

// labelsWithKept returns l plus the selector's = matchers, for static series.
func (g *gen) labelsWithKept(l map[string]string) map[string]string {
	for _, m := range g.keepEq {
		l[m.Name] = m.Value
	}
	return l
}

func num(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

func pct(v float64) string { return num(v*100) + "%" }

func (g *gen) hasEdges() bool    { return len(g.t.Edges) > 0 }
func (g *gen) hasCapacity() bool { return len(g.t.Capacity) > 0 }

// capacityTargets reports whether some edge target has no capacity (relative forms needed).
func (g *gen) someTargetWithoutCapacity() bool {
	if !g.hasEdges() {
		return true
	}
	for _, e := range g.t.Edges {
		if _, ok := g.t.Capacity[e.To]; !ok {
			return true
		}
	}
	return false
}

func (g *gen) record(name, expr string) Rule { return Rule{Record: name, Expr: expr} }

const (
	fellBack   = `result=~"success|failed|unknown"`
	pairLabels = "destination_service, primary_subset"
	routeLabel = "route, destination_service, primary_subset"
	finalLabel = "final_service, final_subset"
)

func (g *gen) recordingRules() []Rule {
	var rs []Rule
	// Static series: the configuration itself.
	for _, e := range g.t.Edges {
		rs = append(rs, Rule{Record: RecordEdge, Expr: "vector(1)", Labels: g.labelsWithKept(map[string]string{
			"route": e.Route, "destination_service": e.From.Service, "primary_subset": e.From.Subset,
			"fallback_service": e.To.Service, "fallback_subset": e.To.Subset,
			"final_service": e.To.Service, "final_subset": e.To.Subset,
		})})
	}
	for _, s := range g.t.Subsets {
		if c, ok := g.t.Capacity[s]; ok {
			rs = append(rs, Rule{Record: RecordCapacity, Expr: "vector(" + num(c) + ")", Labels: g.labelsWithKept(map[string]string{
				"final_service": s.Service, "final_subset": s.Subset,
			})})
		}
	}
	reqs := "fallbackwatch_requests_total"
	unhealthy := "fallbackwatch_upstream_unhealthy_total"
	for _, w := range []string{g.short, g.long} {
		rs = append(rs,
			g.record(recRequests(w), fmt.Sprintf("sum by %s (rate(%s[%s]))", g.by(pairLabels), g.raw(reqs), w)),
			g.record(recFallback(w), fmt.Sprintf("sum by %s (rate(%s[%s]))", g.by(pairLabels), g.raw(reqs, fellBack), w)),
			g.record(recFallbackRatio(w), fmt.Sprintf("(%s or %s * 0)\n/\n%s", g.rec(recFallback(w)), g.rec(recRequests(w)), g.rec(recRequests(w)))),
		)
	}
	s := g.short
	rs = append(rs,
		g.record(recFailed(s), fmt.Sprintf("sum by %s (rate(%s[%s]))", g.by(pairLabels), g.raw(reqs, `result="failed"`), s)),
		g.record(recFailedRatio(s), fmt.Sprintf("(%s or %s * 0)\n/\n%s", g.rec(recFailed(s)), g.rec(recRequests(s)), g.rec(recRequests(s)))),
		g.record(recRouteRequests(s), fmt.Sprintf("sum by %s (rate(%s[%s]))", g.by(routeLabel), g.raw(reqs), s)),
		g.record(recRouteDirect(s), fmt.Sprintf("sum by %s (rate(%s[%s]))", g.by(routeLabel), g.raw(reqs, `result="none"`), s)),
		g.record(recRouteUnprotected(s), fmt.Sprintf("sum by %s (rate(%s[%s]))", g.by(routeLabel), g.raw(unhealthy, `result="none"`), s)),
		g.record(recRouteUnprotectedRatio(s), fmt.Sprintf("(%s or %s * 0)\n/\n%s", g.rec(recRouteUnprotected(s)), g.rec(recRouteRequests(s)), g.rec(recRouteRequests(s)))),
	)
	for _, w := range []string{g.short, g.long} {
		rs = append(rs, g.record(recServed(w), fmt.Sprintf("sum by %s (rate(%s[%s]))", g.by(finalLabel), g.raw(reqs, `final_service!=""`), w)))
	}
	rs = append(rs, g.record(recServedByFallback(s), fmt.Sprintf("sum by %s (rate(%s[%s]))", g.by(finalLabel), g.raw(reqs, `result="success"`, `final_service!=""`), s)))
	if g.hasEdges() {
		// N-1: what each edge's target would serve if the edge's primary lost its endpoints now:
		// the target's current load plus what the primary serves itself on that route.
		rs = append(rs, g.record(recFailoverLoad(s), fmt.Sprintf(
			"%s\n  * on %s group_left (fallback_service, fallback_subset, final_service, final_subset)\n  %s\n"+
				"+ on %s group_left ()\n  (\n    %s\n    or on %s\n    sum by %s (0 * %s)\n  )",
			g.rec(recRouteDirect(s)), g.by(routeLabel), g.rec(RecordEdge),
			g.by(finalLabel), g.rec(recServed(s)), g.by(finalLabel), g.by(finalLabel), g.rec(RecordEdge))))
	}
	decisions := "fallbackwatch_decisions_total"
	rs = append(rs,
		g.record(recDecisions(s), fmt.Sprintf("sum by %s (rate(%s[%s]))", g.by("rule, verdict"), g.raw(decisions), s)),
		g.record(recInconsistentRatio(s), fmt.Sprintf("sum by %s (%s)\n/ ignoring (rule) group_left ()\nsum by %s (%s)",
			g.by("rule"), g.rec(recDecisions(s), `verdict="inconsistent"`), g.by(), g.rec(recDecisions(s)))),
		g.record(recLinesRead(s), fmt.Sprintf("sum by %s (rate(%s[%s]))", g.by("source"), g.raw("fallbackwatch_lines_read_total"), s)),
		g.record(recLinesRejected(s), fmt.Sprintf("sum by %s (rate(%s[%s]))", g.by("source"), g.raw("fallbackwatch_lines_rejected_total"), s)),
		g.record(recLinesRejectedRatio(s), fmt.Sprintf("(%s or %s * 0)\n/\n%s", g.rec(recLinesRejected(s)), g.rec(recLinesRead(s)), g.rec(recLinesRead(s)))),
		// A partition is read by one consumer at a time, but after a rebalance its former owner
		// may still export it: take the largest report per partition, then add partitions up.
		g.record(recKafkaLag, fmt.Sprintf("sum by %s (max by %s (%s))", g.by("topic"), g.by("topic, partition"), g.raw("fallbackwatch_kafka_consumer_lag"))),
	)
	return rs
}

func (g *gen) alert(name, sev string, forD model.Duration, expr, summary, description string) Rule {
	r := Rule{
		Alert:  name,
		Expr:   expr,
		Labels: map[string]string{"severity": sev},
		Annotations: map[string]string{
			"summary":     summary,
			"description": description,
			"runbook_url": g.o.RunbookURL + "#" + strings.ToLower(name),
		},
	}
	if forD > 0 {
		r.For = forD.String()
	}
	return r
}

func (g *gen) alertingRules() []Rule {
	o, th, s, l := g.o, g.o.Thresholds, g.short, g.long
	minRPS := num(th.MinRPS)
	subject := "{{ $labels.destination_service }} subset {{ $labels.primary_subset }}"
	target := "{{ $labels.final_service }} subset {{ $labels.final_subset }}"
	var rs []Rule

	sustained := func(sev string, thr float64, forD model.Duration) Rule {
		return g.alert(AlertFallbackSustained, sev, forD,
			fmt.Sprintf("%s > %s\nand\n%s > %s\nand\n%s > %s",
				g.rec(recFallbackRatio(s)), num(thr), g.rec(recFallbackRatio(l)), num(thr), g.rec(recRequests(s)), minRPS),
			"Requests to "+subject+" keep falling back.",
			"{{ $value | humanizePercentage }} of the requests routed to "+subject+" fell back over the last "+s+
				", and more than "+pct(thr)+" over the last "+l+": the subset has no healthy endpoint and its fallback target is carrying its traffic.")
	}
	rs = append(rs,
		sustained(o.Severities.Page, th.SustainedCritical, o.For.SustainedCritical),
		sustained(o.Severities.Warning, th.SustainedWarning, o.For.SustainedWarning),
		g.alert(AlertFallbackFailed, o.Severities.Page, o.For.Failed,
			fmt.Sprintf("%s > %s\nand\n%s > %s", g.rec(recFailedRatio(s)), num(th.Failed), g.rec(recRequests(s)), minRPS),
			"Fallback from "+subject+" fails: requests get 503.",
			"{{ $value | humanizePercentage }} of the requests routed to "+subject+" failed with 503 UH over the last "+s+
				": the subset and its fallback target both have no healthy endpoint, and fallback does not cascade to the target's own fallback."),
	)

	unprotected := fmt.Sprintf("%s > %s\nand\n%s > %s", g.rec(recRouteUnprotectedRatio(s)), num(th.Unprotected), g.rec(recRouteRequests(s)), minRPS)
	// 503 UH with no fallback tried (R14). With the routing configuration, routes whose subset has
	// a fallback are left out: UH without fallback there is a contradicting decision (C1).
	unprotectedWhat := "requests routed to " + subject + " (route {{ $labels.route }})"
	if g.hasEdges() {
		unprotected += fmt.Sprintf("\nunless on %s\n%s", g.by(routeLabel), g.rec(RecordEdge))
		unprotectedWhat += ", which has no fallback configured,"
	}
	rs = append(rs, g.alert(AlertUnprotectedOutage, o.Severities.Page, o.For.Unprotected, unprotected,
		subject+" fails without a fallback.",
		"{{ $value | humanizePercentage }} of the "+unprotectedWhat+" failed with 503 UH over the last "+s+
			" and no fallback was tried: the subset has no healthy endpoint. A fallback target would have served them."))

	if g.hasCapacity() {
		rs = append(rs, g.alert(AlertFallbackTargetOverCapacity, o.Severities.Warning, o.For.Capacity,
			fmt.Sprintf("%s\n/ on %s group_left ()\n%s\n> %s", g.rec(recServed(s)), g.by(finalLabel), g.rec(RecordCapacity), num(th.Capacity)),
			target+" serves {{ $value | humanizePercentage }} of its capacity.",
			target+" served {{ $value | humanizePercentage }} of its capacity over the last "+s+
				" (its own requests plus those that fell back to it); above "+pct(th.Capacity)+" it may start failing, and then fallback to it fails too."))
	}
	if g.someTargetWithoutCapacity() {
		expr := fmt.Sprintf("%s\n  > on %s group_left ()\n  %s * (%s offset %s)\nand on %s\n%s > 0\nand\n%s > %s",
			g.rec(recServed(s)), g.by(finalLabel), num(th.RelativeLoad), g.rec(recServed(l)), o.Windows.Baseline,
			g.by(finalLabel), g.rec(recServedByFallback(s)), g.rec(recServed(s)), minRPS)
		if g.hasCapacity() {
			expr += fmt.Sprintf("\nunless on %s\n%s", g.by(finalLabel), g.rec(RecordCapacity))
		}
		rs = append(rs, g.alert(AlertFallbackTargetLoadHigh, o.Severities.Warning, o.For.Capacity, expr,
			target+" carries redirected traffic well above its normal load.",
			target+" served {{ $value | humanize }} requests/s over the last "+s+", more than "+num(th.RelativeLoad)+
				" times its load "+o.Windows.Baseline.String()+" earlier, including requests that fell back to it. No capacity is configured for it; check it can take the load."))
	}
	if g.hasEdges() {
		failover := "If " + subject + " lost its endpoints, its requests on route {{ $labels.route }} would fall back to {{ $labels.fallback_service }} subset {{ $labels.fallback_subset }}"
		if g.hasCapacity() {
			rs = append(rs, g.alert(AlertFailoverExceedsCapacity, o.Severities.Warning, o.For.Failover,
				fmt.Sprintf("%s\n/ on %s group_left ()\n%s\n> %s", g.rec(recFailoverLoad(s)), g.by(finalLabel), g.rec(RecordCapacity), num(th.Failover)),
				"{{ $labels.fallback_service }} subset {{ $labels.fallback_subset }} could not absorb a failover of "+subject+".",
				failover+", which would then have to serve {{ $value | humanizePercentage }} of its capacity."))
		}
		if g.someTargetWithoutCapacity() {
			peak := fmt.Sprintf("max_over_time(%s[%s])", g.rec(recServed(s)), o.Windows.Baseline)
			expr := fmt.Sprintf("%s\n  > on %s group_left ()\n  %s * %s\nand on %s\n%s > %s",
				g.rec(recFailoverLoad(s)), g.by(finalLabel), num(th.FailoverPeak), peak, g.by(finalLabel), peak, minRPS)
			if g.hasCapacity() {
				expr += fmt.Sprintf("\nunless on %s\n%s", g.by(finalLabel), g.rec(RecordCapacity))
			}
			rs = append(rs, g.alert(AlertFailoverExceedsPeak, o.Severities.Info, o.For.Failover, expr,
				"A failover of "+subject+" would load {{ $labels.fallback_service }} subset {{ $labels.fallback_subset }} far beyond anything it served recently.",
				failover+", which would then have to serve {{ $value | humanize }} requests/s, more than "+num(th.FailoverPeak)+
					" times the most it served in the last "+o.Windows.Baseline.String()+". No capacity is configured for it."))
		}
	}
	rs = append(rs,
		g.alert(AlertDecisionsInconsistent, o.Severities.Warning, o.For.Inconsistent,
			fmt.Sprintf("%s > %s\nand ignoring (rule)\nsum by %s (%s) > %s",
				g.rec(recInconsistentRatio(s)), num(th.Inconsistent), g.by(), g.rec(recDecisions(s)), minRPS),
			"Fallback decisions contradict the routing configuration (rule {{ $labels.rule }}).",
			"{{ $value | humanizePercentage }} of the access-log records checked over the last "+s+
				" break rule {{ $labels.rule }}: the sidecars do not route as the VirtualServices and DestinationRules say (configuration drift, an old sidecar, or configuration that is not applied)."),
		g.alert(AlertCollectorAbsent, o.Severities.Warning, o.For.Pipeline,
			fmt.Sprintf("absent(%s)", g.raw("fallbackwatch_build_info")),
			"No fallbackwatch collector is reporting.",
			"Prometheus has no fallbackwatch_build_info series: no collector is running or none is scraped, so fallback alerts cannot fire."),
		g.alert(AlertCollectorDown, o.Severities.Warning, o.For.Pipeline,
			fmt.Sprintf("%s == 0\nand on (job, instance)\nmax_over_time(%s[%s])", g.raw("up"), g.raw("fallbackwatch_build_info"), l),
			"Collector {{ $labels.instance }} cannot be scraped.",
			"The fallbackwatch collector {{ $labels.instance }} (job {{ $labels.job }}) has been down for Prometheus; the share of traffic it reads is missing from every fallback metric."),
		g.alert(AlertLinesRejected, o.Severities.Warning, o.For.Pipeline,
			fmt.Sprintf("%s > %s\nand\n%s > %s", g.rec(recLinesRejectedRatio(s)), num(th.Rejected), g.rec(recLinesRead(s)), minRPS),
			"Collectors reject many {{ $labels.source }} lines.",
			"{{ $value | humanizePercentage }} of the lines read from {{ $labels.source }} over the last "+s+
				" looked like access-log records but could not be used (see fallbackwatch_lines_rejected_total by reason): the access-log format may have changed."),
		g.alert(AlertKafkaLagGrowing, o.Severities.Warning, o.For.KafkaLag,
			fmt.Sprintf("%s > %s\nand\nderiv(%s[%s]) > 0", g.rec(recKafkaLag), num(th.KafkaLag), g.rec(recKafkaLag), s),
			"Collectors fall behind on Kafka topic {{ $labels.topic }}.",
			"The collectors are {{ $value | humanize }} messages behind on topic {{ $labels.topic }} and the lag keeps growing: fallback metrics are late and alerts fire late."),
		g.alert(AlertLabelOverflow, o.Severities.Warning, o.For.Pipeline,
			fmt.Sprintf("sum by %s (increase(%s[%s])) > 0", g.by("metric"), g.raw("fallbackwatch_label_overflow_total"), l),
			"{{ $labels.metric }} hit the collector's series limit.",
			"{{ $value | humanize }} records over the last "+l+" did not fit under the series limit and were counted with labels __overflow__: raise --metrics.max-series or find the label that explodes."),
		// As Prometheus' own mixin alerts on prometheus_config_last_reload_successful: per
		// collector, since each reloads on its own SIGHUP.
		g.alert(AlertConfigReloadFailed, o.Severities.Warning, o.For.Pipeline,
			fmt.Sprintf("%s == 0", g.raw("fallbackwatch_config_last_reload_successful")),
			"Collector {{ $labels.instance }} could not reload its configuration.",
			"The last configuration reload of the fallbackwatch collector {{ $labels.instance }} (job {{ $labels.job }}) failed: it keeps checking records against the configuration it loaded before (fallbackwatch_config_last_reload_success_timestamp_seconds says when). Its log says why the new one was refused."),
		// Per collector like the reload: each lists and watches the API on its own. A collector
		// that reads its routing from files exports no fallbackwatch_config_watch_up, and the
		// comparison of an absent series raises nothing.
		g.alert(AlertRoutingWatchDown, o.Severities.Warning, o.For.Pipeline,
			fmt.Sprintf("%s == 0", g.raw("fallbackwatch_config_watch_up")),
			"Collector {{ $labels.instance }} cannot watch the routing configuration in the Kubernetes API.",
			"The fallbackwatch collector {{ $labels.instance }} (job {{ $labels.job }}) cannot list or watch VirtualServices and DestinationRules in the Kubernetes API: it keeps checking records against the last good configuration it read, so route changes made since are not seen. Its log says why (the API server is unreachable or refuses the requests)."),
	)
	return rs
}

// check parses every expression with the PromQL parser and every template-free field for
// validity: a generator bug must not reach a Prometheus.
func check(f *RuleFile) error {
	var errs []error
	for _, gr := range f.Groups {
		for i, r := range gr.Rules {
			if _, err := newParser().ParseExpr(r.Expr); err != nil {
				errs = append(errs, fmt.Errorf("group %s rule %d (%s): %w", gr.Name, i, r.Name(), err))
			}
			if r.Record != "" && !model.IsValidLegacyMetricName(r.Record) {
				errs = append(errs, fmt.Errorf("group %s rule %d: invalid metric name %q", gr.Name, i, r.Record))
			}
		}
	}
	return errors.Join(errs...)
}
