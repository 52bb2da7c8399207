package alerts

import (
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/fallbackwatch/fallbackwatch/topology"
)

// TestFile is a `promtool test rules` file.
type TestFile struct {
	RuleFiles          []string    `yaml:"rule_files"`
	EvaluationInterval string      `yaml:"evaluation_interval"`
	GroupEvalOrder     []string    `yaml:"group_eval_order"`
	Tests              []TestGroup `yaml:"tests"`
}

// TestGroup is one scenario: input series and what must (not) fire at one time.
type TestGroup struct {
	Name            string      `yaml:"name"`
	Interval        string      `yaml:"interval"`
	InputSeries     []Series    `yaml:"input_series"`
	AlertRuleTests  []AlertTest `yaml:"alert_rule_test,omitempty"`
	PromQLExprTests []ExprTest  `yaml:"promql_expr_test,omitempty"`
}

// Series is one input series in promtool's expanding notation.
type Series struct {
	Series string `yaml:"series"`
	Values string `yaml:"values"`
}

// AlertTest lists the alerts named Alertname firing at EvalTime; empty means none.
type AlertTest struct {
	EvalTime  string     `yaml:"eval_time"`
	Alertname string     `yaml:"alertname"`
	ExpAlerts []ExpAlert `yaml:"exp_alerts"`
}

// ExpAlert is one expected firing alert.
type ExpAlert struct {
	ExpLabels      map[string]string `yaml:"exp_labels"`
	ExpAnnotations map[string]string `yaml:"exp_annotations"`
}

// ExprTest checks the value of a query at EvalTime.
type ExprTest struct {
	Expr       string      `yaml:"expr"`
	EvalTime   string      `yaml:"eval_time"`
	ExpSamples []ExpSample `yaml:"exp_samples"`
}

// ExpSample is one expected sample of an ExprTest.
type ExpSample struct {
	Labels string  `yaml:"labels"`
	Value  float64 `yaml:"value"`
}

// Marshal returns the test file, deterministic like the rule file.
func (f *TestFile) Marshal() ([]byte, error) { return marshal(f) }

// flow is traffic of one kind: requests of a route to a primary subset with one outcome. Rates
// are totals over all collectors; each of the two simulated collectors exports half.
type flow struct {
	route          string
	primary        topology.Subset
	fallback       topology.Subset // zero: no fallback
	final          topology.Subset // zero: nothing served it (failed fallback)
	result, code   string
	uh             bool    // response_flags contain UH: counted in fallbackwatch_upstream_unhealthy_total too
	rps, rpsBefore float64 // rpsBefore: rate before the switch in two-phase scenarios
}

func (f flow) key() string {
	return strings.Join([]string{f.route, f.primary.String(), f.fallback.String(), f.final.String(), f.result, f.code,
		strconv.FormatBool(f.uh)}, "|")
}

// pipeline is what the collectors report about themselves.
type pipeline struct {
	absent       bool
	linesRead    float64 // lines/s, total
	rejected     float64 // lines/s, total
	decisions    map[[2]string]float64
	lagGrowing   bool // the Kafka lag crosses its threshold and keeps growing
	overflowRate float64
	// oneStops: collector b stops being scrapeable at the switch.
	oneStops bool
	// reloadFails: collector b's configuration reload fails at the switch.
	reloadFails bool
	// watchDown: collector b reads its routing from the Kubernetes API too, and its list and
	// watch fail at the switch.
	watchDown bool
}

// pipelineSwitch reports whether a collector changes state at the switch (traffic does not).
func (p pipeline) pipelineSwitch() bool { return p.oneStops || p.reloadFails || p.watchDown }

type scenario struct {
	name     string
	flows    []flow
	pipe     pipeline
	twoPhase bool     // flows change at the switch (rpsBefore → rps)
	only     []string // alert names asserted; nil: all
	exprs    bool     // add promql_expr_tests for the aggregation across collectors
	// early are alerts also asserted two steps before the evaluation: while their `for` has not
	// yet run out after the condition began, they must still be pending.
	early []string
}

// Near-threshold factors: the threshold scenarios set a share or load to nearAbove and nearBelow
// times its alert's threshold. Rules whose threshold is off by a factor of 1.5 or more either way
// fail the generated tests.
const (
	nearAbove = 1.25
	nearBelow = 0.8
)

var collectors = []string{"collector-a:9464", "collector-b:9464"}

const testJob = "fallbackwatch"

// bookinfoSample1 is the source document's first configuration, used for test data when the rules
// are generic: reviews v3 falls back to v2.
func bookinfoSample1() *topology.Topology {
	r := "reviews.default.svc.cluster.local"
	s := func(x string) topology.Subset { return topology.Subset{Service: r, Subset: x} }
	return &topology.Topology{
		Subsets: []topology.Subset{s("v1"), s("v2"), s("v3")},
		Edges:   []topology.Edge{{Route: "default/reviews-route#0", From: s("v3"), To: s("v2")}},
	}
}

// GenerateTests returns the `promtool test rules` file for the rules Generate(t, opts) returns,
// loaded from ruleFile (a path relative to the test file). Its scenarios are the source document's:
// a primary subset down with fallback succeeding, primary and fallback target down with fallback
// failing, plus an unprotected outage, capacity and failover load, contradicting decisions and
// pipeline trouble; and healthy and low traffic on which nothing may fire. Every series is split
// between two collectors, so the tests also prove the rules aggregate across replicas.
func GenerateTests(t *topology.Topology, opts Options, ruleFile string) (*TestFile, error) {
	f, err := Generate(t, opts)
	if err != nil {
		return nil, err
	}
	g, _ := newGen(t, opts) // validated by Generate
	tg, err := newTestGen(g, f)
	if err != nil {
		return nil, err
	}
	out := &TestFile{
		RuleFiles:          []string{ruleFile},
		EvaluationInterval: tg.step.String(),
		GroupEvalOrder:     []string{f.Groups[0].Name, f.Groups[1].Name},
	}
	for _, sc := range tg.scenarios() {
		grp, err := tg.group(sc)
		if err != nil {
			return nil, err
		}
		out.Tests = append(out.Tests, grp)
	}
	return out, nil
}

type testGen struct {
	*gen
	rules      *RuleFile
	scen       *topology.Topology // topology the test traffic follows
	step       model.Duration
	selLabels  map[string]string // labels every test series carries to satisfy the selector
	alertNames []string
	r          float64 // rate of healthy traffic per primary subset
}

func newTestGen(g *gen, f *RuleFile) (*testGen, error) {
	tg := &testGen{gen: g, rules: f, scen: g.t, selLabels: map[string]string{}}
	if !g.hasEdges() {
		tg.scen = bookinfoSample1()
	}
	step := time.Duration(g.o.Windows.Short) / 5
	step = step.Truncate(time.Second)
	if step < time.Second {
		step = time.Second
	}
	tg.step = model.Duration(step)
	for _, m := range g.sel {
		v, err := satisfy(m)
		if err != nil {
			return nil, err
		}
		if v != "" {
			tg.selLabels[m.Name] = v
		}
	}
	seen := map[string]bool{}
	for _, r := range f.Groups[1].Rules {
		if !seen[r.Alert] {
			seen[r.Alert] = true
			tg.alertNames = append(tg.alertNames, r.Alert)
		}
	}
	// Healthy traffic well above the minimum-traffic guard, and well below every capacity so a
	// healthy mesh raises no capacity alert.
	tg.r = 1
	for tg.r < 10*g.o.Thresholds.MinRPS {
		tg.r *= 2
	}
	for _, c := range g.t.Capacity {
		for tg.r > c*math.Min(g.o.Thresholds.Capacity, g.o.Thresholds.Failover)/4 {
			tg.r /= 2
		}
	}
	return tg, nil
}

// satisfy returns a label value that m matches, so test series pass the selector.
func satisfy(m *labels.Matcher) (string, error) {
	cands := []string{"", m.Value, "fallbackwatch", "x"}
	if m.Type == labels.MatchRegexp {
		if re, err := regexp.Compile("^(?:" + m.Value + ")$"); err == nil {
			p, _ := re.LiteralPrefix()
			cands = append(cands, p)
		}
	}
	for _, c := range cands {
		if m.Matches(c) {
			return c, nil
		}
	}
	return "", fmt.Errorf("selector matcher %s: cannot build test series that match it; use = matchers or a regular expression with a literal prefix", m)
}

func (tg *testGen) primaries(route string) []topology.Subset {
	var out []topology.Subset
	seen := map[topology.Subset]bool{}
	for _, e := range tg.scen.Edges {
		if e.Route == route && !seen[e.From] {
			seen[e.From] = true
			out = append(out, e.From)
		}
	}
	return out
}

func (tg *testGen) edgeFrom(route string, s topology.Subset) (topology.Edge, bool) {
	for _, e := range tg.scen.Edges {
		if e.Route == route && e.From == s {
			return e, true
		}
	}
	return topology.Edge{}, false
}

func direct(route string, s topology.Subset, rps float64) flow {
	return flow{route: route, primary: s, final: s, result: "none", code: "2xx", rps: rps}
}

func fellBackTo(e topology.Edge, rps float64) flow {
	return flow{route: e.Route, primary: e.From, fallback: e.To, final: e.To, result: "success", code: "2xx", rps: rps}
}

// failedTo is R16: the fallback target is unhealthy too, 503 UH.
func failedTo(e topology.Edge, rps float64) flow {
	return flow{route: e.Route, primary: e.From, fallback: e.To, result: "failed", code: "5xx", uh: true, rps: rps}
}

// unhealthyAlone is R14 for an unhealthy subset: 503 UH, no fallback tried.
func unhealthyAlone(route string, s topology.Subset, rps float64) flow {
	return flow{route: route, primary: s, final: s, result: "none", code: "5xx", uh: true, rps: rps}
}

// appError is a healthy subset answering 5xx itself: no UH.
func appError(route string, s topology.Subset, rps float64) flow {
	return flow{route: route, primary: s, final: s, result: "none", code: "5xx", rps: rps}
}

func healthyPipe(rps float64) pipeline {
	return pipeline{linesRead: rps, decisions: map[[2]string]float64{{"consistent", "none"}: rps}}
}

func total(fs []flow) float64 {
	var s float64
	for _, f := range fs {
		s += f.rps
	}
	return s
}

func (tg *testGen) scenarios() []scenario {
	// The seed's chain: an edge whose target is itself a primary of the route (v3 -> v2 with
	// v2 -> v1), else the first edge.
	first := tg.scen.Edges[0]
	for _, e := range tg.scen.Edges {
		if _, ok := tg.edgeFrom(e.Route, e.To); ok {
			first = e
			break
		}
	}
	route := first.Route
	prim := tg.primaries(route)
	r := tg.r
	// healthyExcept is direct traffic to every primary of the route but those listed.
	healthyExcept := func(rps float64, skip ...topology.Subset) []flow {
		var fs []flow
	next:
		for _, p := range prim {
			for _, s := range skip {
				if p == s {
					continue next
				}
			}
			fs = append(fs, direct(route, p, rps))
		}
		return fs
	}
	// The seed's step 2: the first primary down, its fallback succeeds.
	down := func(rps float64) []flow {
		return append(healthyExcept(rps, first.From), fellBackTo(first, rps))
	}
	// The seed's step 3: the primary and its fallback target down. The primary's requests fail
	// (fallback does not cascade); the target's own requests, if the route sends it any, fall
	// back to the target's fallback.
	bothDown := func(rps float64) []flow {
		fs := append(healthyExcept(rps, first.From, first.To), failedTo(first, rps))
		if e, ok := tg.edgeFrom(route, first.To); ok {
			fs = append(fs, fellBackTo(e, rps))
		}
		return fs
	}
	A, B := first.From, first.To
	var out []scenario
	h := healthyExcept(r)
	out = append(out, scenario{name: "healthy traffic: nothing fires", flows: h, pipe: healthyPipe(total(h)), exprs: true})

	low := tg.o.Thresholds.MinRPS / 4
	lowFlows := append(bothDown(low), down(low)...)
	lowPipe := healthyPipe(total(lowFlows))
	lowPipe.rejected = lowPipe.linesRead / 2
	lowPipe.decisions = map[[2]string]float64{{"consistent", "none"}: lowPipe.linesRead / 2, {"inconsistent", "C1"}: lowPipe.linesRead / 2}
	out = append(out, scenario{name: "low traffic: failures below the minimum-traffic guard raise nothing", flows: lowFlows, pipe: lowPipe})

	d := down(r)
	out = append(out, scenario{name: fmt.Sprintf("%s down: its requests fall back to %s", A, B), flows: d, pipe: healthyPipe(total(d))})
	bd := bothDown(r)
	out = append(out, scenario{name: fmt.Sprintf("%s and %s down: fallback fails with 503", A, B), flows: bd, pipe: healthyPipe(total(bd))})

	other := topology.Subset{Service: "ratings.default.svc.cluster.local", Subset: "v1"}
	un := append(healthyExcept(r, A), unhealthyAlone("default/ratings#0", other, r), unhealthyAlone(route, A, r))
	name := fmt.Sprintf("unprotected outage of %s: 503 UH, no fallback configured", other)
	if tg.hasEdges() {
		name += fmt.Sprintf("; 503 UH of %s, which has a fallback, is a contradicting decision (C1), not this alert", A)
	}
	out = append(out, scenario{name: name, flows: un, pipe: healthyPipe(total(un))})
	ae := append(healthyExcept(r, A), appError("default/ratings#0", other, r), appError(route, A, r))
	out = append(out, scenario{name: fmt.Sprintf("application 5xx of %s and %s without UH: no unprotected outage", other, A),
		flows: ae, pipe: healthyPipe(total(ae))})

	if tg.hasEdges() {
		// N-1 with a capacity: an edge whose target has one.
		if e, ok := tg.edgeWithCapacity(); ok {
			c := tg.t.Capacity[e.To]
			fs := append(healthyExcept(r, e.From), direct(e.Route, e.From, c*1.25))
			out = append(out, scenario{name: fmt.Sprintf("a failover of %s would overload %s", e.From, e.To), flows: fs, pipe: healthyPipe(total(fs))})
			fs = append(healthyExcept(r, e.From), fellBackTo(e, c))
			out = append(out, scenario{name: fmt.Sprintf("%s down: %s at its capacity", e.From, e.To), flows: fs, pipe: healthyPipe(total(fs))})
		}
		if e, ok := tg.edgeWithoutCapacity(); ok {
			fs := append(healthyExcept(r, e.From, e.To), direct(e.Route, e.From, (tg.o.Thresholds.FailoverPeak+1)*r), direct(e.Route, e.To, r))
			out = append(out, scenario{name: fmt.Sprintf("a failover of %s would load %s far beyond its peak", e.From, e.To), flows: fs, pipe: healthyPipe(total(fs))})
		}
	}
	// The relative-load alert is judged in its threshold scenarios (thresholdScenarios): each
	// needs a baseline window of steps before the switch, the longest scenarios of the file.
	dec := healthyPipe(total(h))
	dec.decisions = map[[2]string]float64{{"consistent", "none"}: total(h) * 3 / 4, {"inconsistent", "C1"}: total(h) / 4}
	out = append(out, scenario{name: "a quarter of the records contradict the configuration (C1)", flows: h, pipe: dec})

	p := healthyPipe(total(h))
	p.rejected = p.linesRead / 4
	p.lagGrowing = true
	p.overflowRate = 1
	out = append(out, scenario{name: "pipeline: rejected lines, growing Kafka lag, label overflow", flows: h, pipe: p,
		early: []string{AlertKafkaLagGrowing}})
	stop := healthyPipe(total(h))
	stop.oneStops = true
	out = append(out, scenario{name: "pipeline: one collector stops", flows: h, pipe: stop, twoPhase: true,
		only: []string{AlertCollectorDown, AlertCollectorAbsent}, early: []string{AlertCollectorDown}})
	reload := healthyPipe(total(h))
	reload.reloadFails = true
	out = append(out, scenario{name: "pipeline: one collector's configuration reload fails", flows: h, pipe: reload, twoPhase: true,
		only: []string{AlertConfigReloadFailed}, early: []string{AlertConfigReloadFailed}})
	watch := healthyPipe(total(h))
	watch.watchDown = true
	out = append(out, scenario{name: "pipeline: one collector cannot watch its routing in the Kubernetes API", flows: h, pipe: watch, twoPhase: true,
		only: []string{AlertRoutingWatchDown}, early: []string{AlertRoutingWatchDown}})
	out = append(out, scenario{name: "pipeline: no collector at all", pipe: pipeline{absent: true}, early: []string{AlertCollectorAbsent}})
	return append(out, tg.thresholdScenarios(route, first)...)
}

// share returns k times the share thr, kept below 1.
func share(k, thr float64) float64 { return math.Min(k*thr, (1+thr)/2) }

// thresholdScenarios put each judged share or load just above (nearAbove) and just below
// (nearBelow) its alert's threshold, and assert that alert alone: it fires above and stays silent
// below.
func (tg *testGen) thresholdScenarios(route string, first topology.Edge) []scenario {
	th, r := tg.o.Thresholds, tg.r
	A := first.From
	other := topology.Subset{Service: "ratings.default.svc.cluster.local", Subset: "v1"}
	var out []scenario
	add := func(alert, what string, k float64, sc scenario) {
		side := "above"
		if k < 1 {
			side = "below"
		}
		sc.name = fmt.Sprintf("%s %s its threshold: %s", alert, side, what)
		sc.only = []string{alert}
		if sc.pipe.decisions == nil {
			sc.pipe = healthyPipe(total(sc.flows))
		}
		out = append(out, sc)
	}
	// The relative load is judged against a baseline window before the switch, the longest
	// scenario of the file: one scenario holds a target above and one below the threshold.
	if e, ok := tg.edgeWithoutCapacity(); ok || !tg.hasEdges() {
		if !tg.hasEdges() {
			e = first
		}
		below := topology.Edge{Route: "default/ratings#0", From: other, To: topology.Subset{Service: other.Service, Subset: "v2"}}
		var fs []flow
		var what []string
		for _, c := range []struct {
			e topology.Edge
			k float64
		}{{e, nearAbove}, {below, nearBelow}} {
			redirected := math.Max(c.k*th.RelativeLoad-1, 0.05) * r
			fs = append(fs,
				flow{route: c.e.Route, primary: c.e.From, final: c.e.From, result: "none", code: "2xx", rpsBefore: r},
				flow{route: c.e.Route, primary: c.e.To, final: c.e.To, result: "none", code: "2xx", rpsBefore: r, rps: r},
				flow{route: c.e.Route, primary: c.e.From, fallback: c.e.To, final: c.e.To, result: "success", code: "2xx", rps: redirected})
			what = append(what, fmt.Sprintf("%s down, %s serves %s times its load of %s earlier", c.e.From, c.e.To, fmt.Sprintf("%.4g", (r+redirected)/r), tg.o.Windows.Baseline))
		}
		out = append(out, scenario{name: fmt.Sprintf("%s above and below its threshold: %s", AlertFallbackTargetLoadHigh, strings.Join(what, "; ")),
			flows: fs, twoPhase: true, pipe: healthyPipe(2 * r), only: []string{AlertFallbackTargetLoadHigh}})
	}
	for _, k := range []float64{nearAbove, nearBelow} {
		for _, thr := range []float64{th.SustainedWarning, th.SustainedCritical} {
			x := share(k, thr)
			add(AlertFallbackSustained, fmt.Sprintf("%s of %s's requests fall back", pct(x), A), k,
				scenario{flows: []flow{direct(route, A, r*(1-x)), fellBackTo(first, r*x)}})
		}
		x := share(k, th.Failed)
		add(AlertFallbackFailed, fmt.Sprintf("fallback fails for %s of %s's requests", pct(x), A), k,
			scenario{flows: []flow{direct(route, A, r*(1-x)), failedTo(first, r*x)}})
		x = share(k, th.Unprotected)
		add(AlertUnprotectedOutage, fmt.Sprintf("%s of %s's requests get 503 UH without fallback", pct(x), other), k,
			scenario{flows: []flow{direct("default/ratings#0", other, r*(1-x)), unhealthyAlone("default/ratings#0", other, r*x)}})
		if e, ok := tg.edgeWithCapacity(); ok {
			c := tg.t.Capacity[e.To]
			add(AlertFallbackTargetOverCapacity, fmt.Sprintf("%s serves %s of its capacity", e.To, pct(k*th.Capacity)), k,
				scenario{flows: []flow{fellBackTo(e, k*th.Capacity*c)}})
			add(AlertFailoverExceedsCapacity, fmt.Sprintf("a failover of %s would load %s to %s of its capacity", e.From, e.To, pct(k*th.Failover)), k,
				scenario{flows: []flow{direct(e.Route, e.From, k*th.Failover*c)}})
		}
		if e, ok := tg.edgeWithoutCapacity(); ok {
			// The target serves r; after a failover it would serve r plus the primary's load.
			primary := math.Max(k*th.FailoverPeak-1, 0.05) * r
			add(AlertFailoverExceedsPeak, fmt.Sprintf("a failover of %s would load %s to %s times its peak", e.From, e.To, fmt.Sprintf("%.4g", (primary+r)/r)), k,
				scenario{flows: []flow{direct(e.Route, e.To, r), direct(e.Route, e.From, primary)}})
		}
		h := []flow{direct(route, A, r)}
		x = share(k, th.Inconsistent)
		dec := healthyPipe(r)
		dec.decisions = map[[2]string]float64{{"consistent", "none"}: r * (1 - x), {"inconsistent", "C1"}: r * x}
		add(AlertDecisionsInconsistent, fmt.Sprintf("%s of the records contradict the configuration (C1)", pct(x)), k,
			scenario{flows: h, pipe: dec})
		x = share(k, th.Rejected)
		rej := healthyPipe(r)
		rej.rejected = r * x
		add(AlertLinesRejected, fmt.Sprintf("%s of the lines read are rejected", pct(x)), k, scenario{flows: h, pipe: rej})
	}
	return out
}

func (tg *testGen) edgeWithCapacity() (topology.Edge, bool) {
	for _, e := range tg.t.Edges {
		if _, ok := tg.t.Capacity[e.To]; ok {
			return e, true
		}
	}
	return topology.Edge{}, false
}

func (tg *testGen) edgeWithoutCapacity() (topology.Edge, bool) {
	for _, e := range tg.t.Edges {
		if _, ok := tg.t.Capacity[e.To]; !ok {
			return e, true
		}
	}
	return topology.Edge{}, false
}

// timeline returns, in steps, when the scenario switches (0: never) and when it is judged.
func (tg *testGen) timeline(sc scenario) (switchAt, evalAt int) {
	o := tg.o
	steps := func(d model.Duration) int { return int(math.Ceil(float64(d) / float64(tg.step))) }
	switch {
	case sc.twoPhase && sc.pipe.pipelineSwitch():
		// Two steps before the evaluation the alert is still pending.
		switchAt = steps(o.Windows.Short)
		return switchAt, switchAt + steps(o.For.Pipeline) + 1
	case sc.twoPhase:
		// The normal level (long window, Baseline ago) lies before the switch; the short window
		// and the `for` after it.
		switchAt = steps(o.Windows.Baseline+o.Windows.Long) + 1
		return switchAt, switchAt + steps(o.Windows.Short+o.For.Capacity) + 2
	case sc.pipe.absent:
		return 0, steps(o.For.Pipeline) + 1
	}
	var maxFor model.Duration
	for _, d := range []model.Duration{o.For.SustainedWarning, o.For.SustainedCritical, o.For.Failed, o.For.Unprotected,
		o.For.Capacity, o.For.Failover, o.For.Inconsistent, o.For.Pipeline, o.For.KafkaLag} {
		maxFor = max(maxFor, d)
	}
	// Every window is full and every `for` has run out.
	return 0, steps(o.Windows.Long+maxFor) + 2
}

// counter renders a counter growing at rate before the switch and rate2 after, up to step n.
func (tg *testGen) counter(rate1, rate2 float64, switchAt, n int) string {
	sec := time.Duration(tg.step).Seconds()
	i1, i2 := rate1*sec, rate2*sec
	if switchAt == 0 {
		return fmt.Sprintf("0+%sx%d", num(i2), n)
	}
	v := float64(switchAt) * i1
	return fmt.Sprintf("0+%sx%d %s+%sx%d", num(i1), switchAt, num(v+i2), num(i2), n-switchAt-1)
}

// counterGap is counter for the relative-load scenario: samples up to step beforeEnd (enough for
// the baseline window), none until the switch, then the new rate. The gap keeps promtool fast
// when the baseline is a day of steps.
func (tg *testGen) counterGap(rate1, rate2 float64, beforeEnd, switchAt, n int) string {
	if beforeEnd >= switchAt-1 {
		return tg.counter(rate1, rate2, switchAt, n)
	}
	sec := time.Duration(tg.step).Seconds()
	i1, i2 := rate1*sec, rate2*sec
	v := float64(switchAt) * i1
	return fmt.Sprintf("0+%sx%d _x%d %s+%sx%d", num(i1), beforeEnd, switchAt-beforeEnd-1, num(v), num(i2), n-switchAt)
}

func (tg *testGen) seriesName(metric string, l map[string]string) string {
	all := map[string]string{}
	for k, v := range tg.selLabels {
		all[k] = v
	}
	for k, v := range l {
		all[k] = v
	}
	keys := make([]string, 0, len(all))
	for k := range all {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+"="+strconv.Quote(all[k]))
	}
	return metric + "{" + strings.Join(parts, ", ") + "}"
}

func (tg *testGen) group(sc scenario) (TestGroup, error) {
	switchAt, evalAt := tg.timeline(sc)
	n := evalAt
	grp := TestGroup{Name: sc.name, Interval: tg.step.String()}
	add := func(metric string, l map[string]string, values string) {
		grp.InputSeries = append(grp.InputSeries, Series{Series: tg.seriesName(metric, l), Values: values})
	}
	values := func(f flow) string {
		if sc.twoPhase && !sc.pipe.pipelineSwitch() {
			// The baseline window ends Baseline before the evaluation.
			beforeEnd := evalAt - int(math.Floor(float64(tg.o.Windows.Baseline)/float64(tg.step))) + 1
			return tg.counterGap(f.rpsBefore/2, f.rps/2, beforeEnd, switchAt, n)
		}
		return tg.counter(f.rpsBefore/2, f.rps/2, 0, n)
	}
	for _, f := range sc.flows {
		for _, inst := range collectors {
			add("fallbackwatch_requests_total", map[string]string{
				"instance": inst, "job": testJob,
				"route": f.route, "destination_service": f.primary.Service, "primary_subset": f.primary.Subset,
				"fallback_service": f.fallback.Service, "fallback_subset": f.fallback.Subset,
				"final_service": f.final.Service, "final_subset": f.final.Subset,
				"result": f.result, "code_class": f.code,
				"source_namespace": "default", "source_workload": "productpage-v1",
			}, values(f))
		}
		if !f.uh {
			continue
		}
		for _, inst := range collectors {
			add("fallbackwatch_upstream_unhealthy_total", map[string]string{
				"instance": inst, "job": testJob,
				"route": f.route, "destination_service": f.primary.Service, "primary_subset": f.primary.Subset,
				"result": f.result,
			}, values(f))
		}
	}
	p := sc.pipe
	if p.absent {
		add("up", map[string]string{"instance": "node-exporter:9100", "job": "node"}, fmt.Sprintf("1x%d", n))
	} else {
		for i, inst := range collectors {
			base := map[string]string{"instance": inst, "job": testJob}
			with := func(k, v string) map[string]string {
				m := map[string]string{k: v}
				for a, b := range base {
					m[a] = b
				}
				return m
			}
			if p.oneStops && i == 1 {
				add("up", base, fmt.Sprintf("1x%d 0x%d", switchAt-1, n-switchAt))
				add("fallbackwatch_build_info", with("version", "test"), fmt.Sprintf("1x%d", switchAt-1))
			} else {
				add("up", base, fmt.Sprintf("1x%d", n))
				add("fallbackwatch_build_info", with("version", "test"), fmt.Sprintf("1x%d", n))
			}
			if p.reloadFails && i == 1 {
				add("fallbackwatch_config_last_reload_successful", base, fmt.Sprintf("1x%d 0x%d", switchAt-1, n-switchAt))
			} else {
				add("fallbackwatch_config_last_reload_successful", base, fmt.Sprintf("1x%d", n))
			}
			// Collector a reads its routing from the Kubernetes API; collector b reads files and
			// exports no watch series, which must raise nothing, unless its watch fails here.
			switch {
			case p.watchDown && i == 1:
				add("fallbackwatch_config_watch_up", base, fmt.Sprintf("1x%d 0x%d", switchAt-1, n-switchAt))
			case i == 0:
				add("fallbackwatch_config_watch_up", base, fmt.Sprintf("1x%d", n))
			}
			add("fallbackwatch_lines_read_total", with("source", "file"), tg.counter(0, p.linesRead/2, 0, n))
			add("fallbackwatch_lines_rejected_total", map[string]string{"instance": inst, "job": testJob, "source": "file", "reason": "invalid_json"},
				tg.counter(0, p.rejected/2, 0, n))
			keys := make([][2]string, 0, len(p.decisions))
			for k := range p.decisions {
				keys = append(keys, k)
			}
			sort.Slice(keys, func(a, b int) bool { return keys[a][0]+keys[a][1] < keys[b][0]+keys[b][1] })
			for _, k := range keys {
				add("fallbackwatch_decisions_total", map[string]string{"instance": inst, "job": testJob, "verdict": k[0], "rule": k[1]},
					tg.counter(0, p.decisions[k]/2, 0, n))
			}
			// Collector a reads partition 0, collector b partition 1 and still exports the lag
			// it last saw for partition 0 before a rebalance.
			lag := map[string]string{"instance": inst, "job": testJob, "topic": "istio-access-log", "partition": strconv.Itoa(i)}
			if p.lagGrowing {
				start, inc := tg.lagLine(n)
				add("fallbackwatch_kafka_consumer_lag", lag, fmt.Sprintf("%s+%sx%d", num(start), num(inc), n))
			} else {
				add("fallbackwatch_kafka_consumer_lag", lag, fmt.Sprintf("5x%d", n))
			}
			if i == 1 {
				stale := map[string]string{"instance": inst, "job": testJob, "topic": "istio-access-log", "partition": "0"}
				add("fallbackwatch_kafka_consumer_lag", stale, fmt.Sprintf("%sx%d", num(tg.staleLag()), n))
			}
			if p.overflowRate > 0 {
				add("fallbackwatch_label_overflow_total", with("metric", "fallbackwatch_requests_total"), tg.counter(0, p.overflowRate/2, 0, n))
			}
		}
	}
	evalTime := model.Duration(time.Duration(tg.step) * time.Duration(evalAt)).String()
	names := sc.only
	if names == nil {
		names = tg.alertNames
	}
	if err := tg.alertTests(&grp, sc, switchAt, evalAt-2, sc.early); err != nil {
		return grp, err
	}
	if err := tg.alertTests(&grp, sc, switchAt, evalAt, names); err != nil {
		return grp, err
	}
	if sc.exprs {
		grp.PromQLExprTests = tg.exprTests(sc, evalTime)
	}
	return grp, nil
}

// alertTests adds the alert tests of names at step evalAt, with the alerts the oracle expects.
func (tg *testGen) alertTests(grp *TestGroup, sc scenario, switchAt, evalAt int, names []string) error {
	evalTime := model.Duration(time.Duration(tg.step) * time.Duration(evalAt)).String()
	exp := tg.expect(sc, switchAt, evalAt)
	for _, name := range names {
		if !tg.hasAlert(name) {
			continue
		}
		at := AlertTest{EvalTime: evalTime, Alertname: name, ExpAlerts: []ExpAlert{}}
		for _, e := range exp[name] {
			ann, err := tg.annotations(name, e)
			if err != nil {
				return err
			}
			l := map[string]string{}
			for k, v := range e.labels {
				l[k] = v
			}
			l["severity"] = e.severity
			at.ExpAlerts = append(at.ExpAlerts, ExpAlert{ExpLabels: l, ExpAnnotations: ann})
		}
		sort.Slice(at.ExpAlerts, func(i, j int) bool {
			return labels.FromMap(at.ExpAlerts[i].ExpLabels).String() < labels.FromMap(at.ExpAlerts[j].ExpLabels).String()
		})
		grp.AlertRuleTests = append(grp.AlertRuleTests, at)
	}
	return nil
}

// lagLine is each partition's Kafka lag in the growing-lag scenario judged at step n: a line that
// starts near half the threshold and grows so that the sum over both partitions crosses the
// threshold half way between two steps, `for` plus a step and a half before step n.
func (tg *testGen) lagLine(n int) (start, inc float64) {
	th := tg.o.Thresholds.KafkaLag
	cross := float64(n) - math.Ceil(float64(tg.o.For.KafkaLag)/float64(tg.step)) - 1.5
	m := 2 * (cross + 1.5)
	return th / 2 * (1 - cross/m), th / 2 / m
}

// staleLag is what collector b still exports for partition 0, read by collector a.
func (tg *testGen) staleLag() float64 { return tg.o.Thresholds.KafkaLag / 4 }

// since returns the first step of the run of steps ending at at in which cond holds, or -1 when
// cond does not hold at at: the time Prometheus' rule manager makes the alert active.
func since(cond func(step int) bool, at int) int {
	if !cond(at) {
		return -1
	}
	s := at
	for s > 0 && cond(s-1) {
		s--
	}
	return s
}

// held reports whether an alert active since step s (-1: not active) fires at step at, its `for`
// being forD.
func (tg *testGen) held(s, at int, forD model.Duration) bool {
	return s >= 0 && time.Duration(tg.step)*time.Duration(at-s) >= time.Duration(forD)
}

func (tg *testGen) hasAlert(name string) bool {
	for _, n := range tg.alertNames {
		if n == name {
			return true
		}
	}
	return false
}

// firing is an alert the oracle expects.
type firing struct {
	labels   map[string]string
	severity string
	value    float64
}

func (tg *testGen) kept(l map[string]string) map[string]string {
	for _, m := range tg.keepEq {
		l[m.Name] = m.Value
	}
	return l
}

// expect is the oracle: from the scenario's rates, which alerts fire with which value. It is
// written from the alert definitions, independently of the PromQL, so promtool checks one against
// the other.
//
// Alerts whose condition begins during the scenario (a collector stops, a reload fails, no
// collector at all, the Kafka lag crosses its threshold) are judged step by step: the condition
// from its definition at every evaluation, and the alert's `for` from when it began. The others
// see steady rates and are judged once every window is full and every `for` has run out.
func (tg *testGen) expect(sc scenario, switchAt, at int) map[string][]firing {
	o, th := tg.o, tg.o.Thresholds
	out := map[string][]firing{}
	fire := func(name, sev string, l map[string]string, v float64) {
		out[name] = append(out[name], firing{labels: tg.kept(l), severity: sev, value: v})
	}
	step := time.Duration(tg.step)
	if sc.pipe.absent {
		l := map[string]string{}
		for _, m := range tg.sel {
			if m.Type == labels.MatchEqual {
				l[m.Name] = m.Value
			}
		}
		// absent() of a series no collector ever exported holds from the first evaluation.
		if tg.held(since(func(int) bool { return true }, at), at, o.For.Pipeline) {
			out[AlertCollectorAbsent] = []firing{{labels: l, severity: o.Severities.Warning, value: 1}}
		}
		return out
	}
	collectorB := func() map[string]string {
		l := map[string]string{"instance": collectors[1], "job": testJob}
		for k, v := range tg.selLabels {
			l[k] = v
		}
		return l
	}
	if sc.pipe.oneStops {
		// up is 0 from the switch on; the collector's build_info, last seen the step before, is
		// within the long window for that long.
		down := func(j int) bool {
			return j >= switchAt && step*time.Duration(j-(switchAt-1)) <= time.Duration(o.Windows.Long)
		}
		if tg.held(since(down, at), at, o.For.Pipeline) {
			out[AlertCollectorDown] = []firing{{labels: collectorB(), severity: o.Severities.Warning, value: 0}}
		}
		return out
	}
	if sc.pipe.reloadFails || sc.pipe.watchDown {
		// Collector b's gauge (the reload's success, the watch's) is 0 from the switch on.
		alert := AlertConfigReloadFailed
		if sc.pipe.watchDown {
			alert = AlertRoutingWatchDown
		}
		failed := func(j int) bool { return j >= switchAt }
		if tg.held(since(failed, at), at, o.For.Pipeline) {
			out[alert] = []firing{{labels: collectorB(), severity: o.Severities.Warning, value: 0}}
		}
		return out
	}
	if sc.twoPhase {
		// Only the relative load alert is judged: the target's load now against Baseline ago.
		served, before, redirected := map[topology.Subset]float64{}, map[topology.Subset]float64{}, map[topology.Subset]float64{}
		for _, f := range sc.flows {
			served[f.final] += f.rps
			before[f.final] += f.rpsBefore
			if f.result == "success" {
				redirected[f.final] += f.rps
			}
		}
		for s, v := range served {
			if _, ok := tg.t.Capacity[s]; ok || s.Service == "" {
				continue
			}
			if v > th.RelativeLoad*before[s] && redirected[s] > 0 && v > th.MinRPS {
				fire(AlertFallbackTargetLoadHigh, o.Severities.Warning, map[string]string{"final_service": s.Service, "final_subset": s.Subset}, v)
			}
		}
		return out
	}
	type pair = topology.Subset
	type rp struct {
		route string
		s     pair
	}
	tot, fb, failed := map[pair]float64{}, map[pair]float64{}, map[pair]float64{}
	rtot, rdirect, runprot := map[rp]float64{}, map[rp]float64{}, map[rp]float64{}
	hasDirect := map[rp]bool{}
	served := map[pair]float64{}
	for _, f := range sc.flows {
		tot[f.primary] += f.rps
		k := rp{f.route, f.primary}
		rtot[k] += f.rps
		switch f.result {
		case "success", "failed", "unknown":
			fb[f.primary] += f.rps
		}
		if f.result == "failed" {
			failed[f.primary] += f.rps
		}
		if f.result == "none" {
			rdirect[k] += f.rps
			hasDirect[k] = true
			if f.uh {
				runprot[k] += f.rps
			}
		}
		if f.final.Service != "" {
			served[f.final] += f.rps
		}
	}
	pl := func(s pair) map[string]string {
		return map[string]string{"destination_service": s.Service, "primary_subset": s.Subset}
	}
	for s, t := range tot {
		if t <= th.MinRPS {
			continue
		}
		ratio := fb[s] / t
		if ratio > th.SustainedCritical {
			fire(AlertFallbackSustained, o.Severities.Page, pl(s), ratio)
		}
		if ratio > th.SustainedWarning {
			fire(AlertFallbackSustained, o.Severities.Warning, pl(s), ratio)
		}
		if r := failed[s] / t; r > th.Failed {
			fire(AlertFallbackFailed, o.Severities.Page, pl(s), r)
		}
	}
	isEdge := func(k rp) bool {
		for _, e := range tg.t.Edges {
			if e.Route == k.route && e.From == k.s {
				return true
			}
		}
		return false
	}
	for k, t := range rtot {
		if r := runprot[k] / t; t > th.MinRPS && r > th.Unprotected && !isEdge(k) {
			l := pl(k.s)
			l["route"] = k.route
			fire(AlertUnprotectedOutage, o.Severities.Page, l, r)
		}
	}
	for s, c := range tg.t.Capacity {
		if v, ok := served[s]; ok && v/c > th.Capacity {
			fire(AlertFallbackTargetOverCapacity, o.Severities.Warning, map[string]string{"final_service": s.Service, "final_subset": s.Subset}, v/c)
		}
	}
	for _, e := range tg.t.Edges {
		k := rp{e.Route, e.From}
		if !hasDirect[k] {
			continue
		}
		load := rdirect[k] + served[e.To]
		l := map[string]string{"route": e.Route, "destination_service": e.From.Service, "primary_subset": e.From.Subset,
			"fallback_service": e.To.Service, "fallback_subset": e.To.Subset, "final_service": e.To.Service, "final_subset": e.To.Subset}
		if c, ok := tg.t.Capacity[e.To]; ok {
			if load/c > th.Failover {
				fire(AlertFailoverExceedsCapacity, o.Severities.Warning, l, load/c)
			}
		} else if peak, ok := served[e.To]; ok && load > th.FailoverPeak*peak && peak > th.MinRPS {
			fire(AlertFailoverExceedsPeak, o.Severities.Info, l, load)
		}
	}
	var decTotal float64
	incons := map[string]float64{}
	for k, v := range sc.pipe.decisions {
		decTotal += v
		if k[0] == "inconsistent" {
			incons[k[1]] += v
		}
	}
	for rule, v := range incons {
		if decTotal > th.MinRPS && v/decTotal > th.Inconsistent {
			fire(AlertDecisionsInconsistent, o.Severities.Warning, map[string]string{"rule": rule}, v/decTotal)
		}
	}
	if p := sc.pipe; p.linesRead > th.MinRPS && p.rejected/p.linesRead > th.Rejected {
		fire(AlertLinesRejected, o.Severities.Warning, map[string]string{"source": "file"}, p.rejected/p.linesRead)
	}
	if sc.pipe.lagGrowing {
		// Per partition the largest report (partition 0: collector a's, or the stale copy on b),
		// summed; growing from the second step on. The condition is the rule's: above the
		// threshold and growing.
		_, n := tg.timeline(sc)
		start, inc := tg.lagLine(n)
		lag := func(j int) float64 {
			own := start + inc*float64(j)
			return math.Max(own, tg.staleLag()) + own
		}
		growing := func(j int) bool { return j >= 1 && lag(j) > th.KafkaLag }
		if tg.held(since(growing, at), at, o.For.KafkaLag) {
			fire(AlertKafkaLagGrowing, o.Severities.Warning, map[string]string{"topic": "istio-access-log"}, lag(at))
		}
	}
	if r := sc.pipe.overflowRate; r > 0 {
		fire(AlertLabelOverflow, o.Severities.Warning, map[string]string{"metric": "fallbackwatch_requests_total"}, r*time.Duration(o.Windows.Long).Seconds())
	}
	return out
}

// annotations renders the alert's annotations as Prometheus does.
func (tg *testGen) annotations(name string, e firing) (map[string]string, error) {
	var rule *Rule
	for i, r := range tg.rules.Groups[1].Rules {
		if r.Alert == name && r.Labels["severity"] == e.severity {
			rule = &tg.rules.Groups[1].Rules[i]
		}
	}
	if rule == nil {
		return nil, fmt.Errorf("test scenario expects alert %s with severity %s, which the rules do not define", name, e.severity)
	}
	out := map[string]string{}
	for k, text := range rule.Annotations {
		v, err := expandTemplate(name, text, e.labels, e.value)
		if err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, nil
}

// expandTemplate expands an annotation like Prometheus' rule manager: $labels and $value defined,
// humanize and humanizePercentage as in github.com/prometheus/prometheus/template.
func expandTemplate(name, text string, l map[string]string, value float64) (string, error) {
	const defs = "{{$labels := .Labels}}{{$value := .Value}}"
	tmpl, err := template.New(name).Funcs(template.FuncMap{
		"humanize":           humanize,
		"humanizePercentage": func(v float64) string { return fmt.Sprintf("%.4g%%", v*100) },
	}).Option("missingkey=zero").Parse(defs + text)
	if err != nil {
		return "", fmt.Errorf("alert %s: annotation template: %w", name, err)
	}
	var b strings.Builder
	if err := tmpl.Execute(&b, struct {
		Labels map[string]string
		Value  float64
	}{l, value}); err != nil {
		return "", fmt.Errorf("alert %s: annotation template: %w", name, err)
	}
	return b.String(), nil
}

func humanize(v float64) string {
	if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return fmt.Sprintf("%.4g", v)
	}
	if math.Abs(v) >= 1 {
		prefix := ""
		for _, p := range []string{"k", "M", "G", "T", "P", "E", "Z", "Y"} {
			if math.Abs(v) < 1000 {
				break
			}
			prefix = p
			v /= 1000
		}
		return fmt.Sprintf("%.4g%s", v, prefix)
	}
	prefix := ""
	for _, p := range []string{"m", "u", "n", "p", "f", "a", "z", "y"} {
		if math.Abs(v) >= 1 {
			break
		}
		prefix = p
		v *= 1000
	}
	return fmt.Sprintf("%.4g%s", v, prefix)
}

// exprTests check that recorded rates add up what both collectors export.
func (tg *testGen) exprTests(sc scenario, evalTime string) []ExprTest {
	byPrimary := map[topology.Subset]float64{}
	for _, f := range sc.flows {
		byPrimary[f.primary] += f.rps
	}
	keys := make([]topology.Subset, 0, len(byPrimary))
	for k := range byPrimary {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
	var out []ExprTest
	for _, k := range keys {
		l := tg.kept(map[string]string{"destination_service": k.Service, "primary_subset": k.Subset})
		name := recRequests(tg.short)
		out = append(out, ExprTest{
			Expr:       tg.rec(name, `destination_service="`+k.Service+`"`, `primary_subset="`+k.Subset+`"`),
			EvalTime:   evalTime,
			ExpSamples: []ExpSample{{Labels: name + labelString(l), Value: byPrimary[k]}},
		})
	}
	return out
}

func labelString(l map[string]string) string {
	return labels.FromMap(l).String()
}
