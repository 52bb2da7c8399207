package alerts

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	exportedseries "github.com/fallbackwatch/fallbackwatch/internal/exported"
	"github.com/fallbackwatch/fallbackwatch/internal/realtools"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/require"

	"github.com/fallbackwatch/fallbackwatch/topology"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

const reviews = "reviews.default.svc.cluster.local"

func sub(s string) topology.Subset { return topology.Subset{Service: reviews, Subset: s} }

// sample1 and sample2 are the source document's VirtualServices over its DestinationRule.
func sample1() *topology.Topology {
	return &topology.Topology{
		Subsets: []topology.Subset{sub("v1"), sub("v2"), sub("v3")},
		Edges:   []topology.Edge{{Route: "default/reviews-route#0", From: sub("v3"), To: sub("v2")}},
	}
}

func sample2() *topology.Topology {
	t := sample1()
	t.Edges = append(t.Edges, topology.Edge{Route: "default/reviews-route#0", From: sub("v2"), To: sub("v1")})
	return t
}

func withCapacity(t *testing.T, topo *topology.Topology) *topology.Topology {
	t.Helper()
	c, err := topology.LoadCapacity("testdata/capacity.yaml", topo, "default", "")
	require.NoError(t, err)
	topo.Capacity = c
	return topo
}

func shortWindows() Options {
	o := DefaultOptions()
	d := func(s string) model.Duration { v, _ := model.ParseDuration(s); return v }
	o.Windows = Windows{Short: d("10s"), Long: d("1m"), Baseline: d("2m")}
	o.For = For{SustainedWarning: d("20s"), SustainedCritical: d("10s"), Failed: d("5s"), Unprotected: d("5s"),
		Capacity: d("10s"), Failover: d("10s"), Inconsistent: d("10s"), Pipeline: d("10s"), KafkaLag: d("10s")}
	return o
}

type genCase struct {
	name string
	topo func(t *testing.T) *topology.Topology
	opts Options
}

func cases() []genCase {
	withSel := DefaultOptions()
	withSel.Selector = `{namespace="mesh", cluster=~"prod-.*"}`
	return []genCase{
		{"generic", func(*testing.T) *topology.Topology { return nil }, Options{}},
		{"sample1", func(*testing.T) *topology.Topology { return sample1() }, Options{}},
		{"sample1-capacity", func(t *testing.T) *topology.Topology { return withCapacity(t, sample1()) }, Options{}},
		{"sample2", func(*testing.T) *topology.Topology { return sample2() }, Options{}},
		{"sample2-capacity", func(t *testing.T) *topology.Topology { return withCapacity(t, sample2()) }, Options{}},
		{"sample2-selector", func(*testing.T) *topology.Topology { return sample2() }, withSel},
		{"sample2-short-windows", func(*testing.T) *topology.Topology { return sample2() }, shortWindows()},
		{"generic-short-windows", func(*testing.T) *topology.Topology { return nil }, shortWindows()},
	}
}

// generate returns the rule file, its test file and the PrometheusRule for c.
func generate(t *testing.T, c genCase) (rules, tests, prule []byte) {
	t.Helper()
	topo := c.topo(t)
	f, err := Generate(topo, c.opts)
	require.NoError(t, err)
	rules, err = f.Marshal()
	require.NoError(t, err)
	prule, err = f.MarshalPrometheusRule("fallbackwatch")
	require.NoError(t, err)
	tf, err := GenerateTests(topo, c.opts, "rules.yaml")
	require.NoError(t, err)
	tests, err = tf.Marshal()
	require.NoError(t, err)
	return rules, tests, prule
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./alerts -update to create it")
	require.Equal(t, string(want), string(got), "%s differs; run go test ./alerts -update and review the diff", path)
}

func TestGolden(t *testing.T) {
	for _, c := range cases() {
		t.Run(c.name, func(t *testing.T) {
			rules, tests, prule := generate(t, c)
			golden(t, c.name+".rules.yaml", rules)
			golden(t, c.name+".rules.test.yaml", tests)
			if c.name == "sample2-capacity" {
				golden(t, c.name+".prometheusrule.yaml", prule)
			}
			// Deterministic: a second run gives the same bytes.
			rules2, tests2, prule2 := generate(t, c)
			require.Equal(t, rules, rules2)
			require.Equal(t, tests, tests2)
			require.Equal(t, prule, prule2)
		})
	}
}

// promtool returns the path of promtool; without it the test fails under CI=true and is skipped
// otherwise.
func promtool(t *testing.T) string {
	t.Helper()
	return realtools.Path(t, realtools.Debian, "promtool")
}

// TestPromtool checks every generated rule file with `promtool check rules --lint=all` and runs its
// generated unit tests with `promtool test rules`.
func TestPromtool(t *testing.T) {
	bin := promtool(t)
	for _, c := range cases() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel() // promtool runs in its own process
			rules, tests, _ := generate(t, c)
			dir := t.TempDir()
			require.NoError(t, os.WriteFile(filepath.Join(dir, "rules.yaml"), rules, 0o644))
			require.NoError(t, os.WriteFile(filepath.Join(dir, "rules.test.yaml"), tests, 0o644))
			out, err := exec.Command(bin, "check", "rules", "--lint=all", "--lint-fatal", filepath.Join(dir, "rules.yaml")).CombinedOutput()
			require.NoError(t, err, "promtool check rules:\n%s", out)
			require.NotContains(t, string(out), "WARNING")
			start := time.Now()
			out, err = exec.Command(bin, "test", "rules", filepath.Join(dir, "rules.test.yaml")).CombinedOutput()
			require.NoError(t, err, "promtool test rules:\n%s", out)
			t.Logf("promtool test rules: %s in %v", strings.TrimSpace(string(out)), time.Since(start).Round(time.Millisecond))
		})
	}
}

// TestPromtoolCatchesBrokenRules proves the promtool tests can fail: a rule file whose sustained
// fallback threshold is raised past 100% must fail the tests generated for the real threshold.
func TestPromtoolCatchesBrokenRules(t *testing.T) {
	bin := promtool(t)
	rules, tests, _ := generate(t, cases()[1])
	broken := strings.Replace(string(rules), "ratio_rate5m > 0.05", "ratio_rate5m > 1.05", 1)
	require.NotEqual(t, string(rules), broken)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "rules.yaml"), []byte(broken), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "rules.test.yaml"), tests, 0o644))
	out, err := exec.Command(bin, "test", "rules", filepath.Join(dir, "rules.test.yaml")).CombinedOutput()
	require.Error(t, err, "promtool accepted broken rules:\n%s", out)
	require.Contains(t, string(out), AlertFallbackSustained)
}

// TestPromtoolUnprotectedNeedsUH proves the scenarios tell 503 UH from an application's 5xx: rules
// that take every 5xx without fallback as an unprotected outage fail the generated tests on the
// application-error scenario.
func TestPromtoolUnprotectedNeedsUH(t *testing.T) {
	bin := promtool(t)
	rules, tests, _ := generate(t, cases()[1])
	broken := strings.Replace(string(rules), `fallbackwatch_upstream_unhealthy_total{result="none"}`,
		`fallbackwatch_requests_total{result="none", code_class="5xx"}`, 1)
	require.NotEqual(t, string(rules), broken)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "rules.yaml"), []byte(broken), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "rules.test.yaml"), tests, 0o644))
	out, err := exec.Command(bin, "test", "rules", filepath.Join(dir, "rules.test.yaml")).CombinedOutput()
	require.Error(t, err, "promtool accepted rules that count application 5xx:\n%s", out)
	require.Contains(t, string(out), "without UH: no unprotected outage")
	require.Contains(t, string(out), AlertUnprotectedOutage)
}

// exported is what the collector exports, from docs/metrics.md (metric → labels). Target labels
// Prometheus adds (job, instance) are allowed everywhere.
var exported = func() map[string][]string {
	m := map[string][]string{"up": {}}
	for k, v := range exportedseries.Series {
		m[k] = v
	}
	return m
}()

// TestExpressionsUseExportedMetrics parses every expression with the PromQL parser and checks that
// every metric it reads is exported by the collector or recorded by an earlier rule, and every
// label it names is one those series carry.
func TestExpressionsUseExportedMetrics(t *testing.T) {
	for _, c := range cases() {
		t.Run(c.name, func(t *testing.T) {
			f, err := Generate(c.topo(t), c.opts)
			require.NoError(t, err)
			require.NoError(t, checkExported(f, c.opts.Selector))
		})
	}
}

// TestCheckExportedFails proves the check catches what it is for.
func TestCheckExportedFails(t *testing.T) {
	for _, c := range []struct{ expr, want string }{
		{`sum by (destination_service) (rate(fallbackwatch_request_total[5m]))`, "fallbackwatch_request_total, which is neither exported"},
		{`rate(fallbackwatch_requests_total{subset="v2"}[5m])`, "on label subset"},
		{`sum by (subset) (rate(fallbackwatch_requests_total[5m]))`, "aggregates by unknown label subset"},
		{`rate(fallbackwatch_requests_total[5m]`, "unclosed left parenthesis"},
	} {
		f := &RuleFile{Groups: []Group{{Name: "x", Rules: []Rule{{Record: "a:b:c", Expr: c.expr}}}}}
		require.ErrorContains(t, checkExported(f, ""), c.want, c.expr)
	}
}

func checkExported(f *RuleFile, selector string) error {
	sel, err := parseSelector(selector)
	if err != nil {
		return err
	}
	known := map[string]map[string]bool{}
	for m, ls := range exported {
		known[m] = map[string]bool{"job": true, "instance": true}
		for _, l := range ls {
			known[m][l] = true
		}
		for _, s := range sel {
			known[m][s.Name] = true
		}
	}
	var errs []error
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			expr, err := newParser().ParseExpr(r.Expr)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", r.Name(), err))
				continue
			}
			produced := map[string]bool{}
			parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
				switch n := n.(type) {
				case *parser.VectorSelector:
					ls, ok := known[n.Name]
					if !ok {
						errs = append(errs, fmt.Errorf("%s reads %s, which is neither exported nor recorded before", r.Name(), n.Name))
						return nil
					}
					for _, m := range n.LabelMatchers {
						if m.Name != model.MetricNameLabel && !ls[m.Name] {
							errs = append(errs, fmt.Errorf("%s selects %s on label %s, which it does not carry", r.Name(), n.Name, m.Name))
						}
					}
					for l := range ls {
						produced[l] = true
					}
				case *parser.AggregateExpr:
					for _, l := range n.Grouping {
						if !anyKnown(known, l) {
							errs = append(errs, fmt.Errorf("%s aggregates by unknown label %s", r.Name(), l))
						}
						produced[l] = true
					}
				case *parser.BinaryExpr:
					if n.VectorMatching != nil {
						for _, l := range append(append([]string(nil), n.VectorMatching.MatchingLabels...), n.VectorMatching.Include...) {
							if !anyKnown(known, l) {
								errs = append(errs, fmt.Errorf("%s matches on unknown label %s", r.Name(), l))
							}
						}
					}
				}
				return nil
			})
			if r.Record != "" {
				ls := known[r.Record]
				if ls == nil {
					ls = map[string]bool{}
				}
				for l := range produced {
					ls[l] = true
				}
				for l := range r.Labels {
					ls[l] = true
				}
				known[r.Record] = ls
			}
		}
	}
	return errors.Join(errs...)
}

func anyKnown(known map[string]map[string]bool, l string) bool {
	for _, ls := range known {
		if ls[l] {
			return true
		}
	}
	return false
}

// TestEveryAlertIsProved checks the generated tests: each alert fires in some scenario, and
// nothing fires on healthy or on low traffic.
func TestEveryAlertIsProved(t *testing.T) {
	for _, c := range cases() {
		t.Run(c.name, func(t *testing.T) {
			topo := c.topo(t)
			f, err := Generate(topo, c.opts)
			require.NoError(t, err)
			tf, err := GenerateTests(topo, c.opts, "rules.yaml")
			require.NoError(t, err)
			fired := map[string]bool{}
			for _, g := range tf.Tests {
				quiet := strings.HasPrefix(g.Name, "healthy") || strings.HasPrefix(g.Name, "low traffic")
				for _, at := range g.AlertRuleTests {
					if quiet {
						require.Empty(t, at.ExpAlerts, "%s: %s must not fire", g.Name, at.Alertname)
					}
					if len(at.ExpAlerts) > 0 {
						fired[at.Alertname] = true
					}
				}
				seen := map[string]bool{}
				for _, s := range g.InputSeries {
					if strings.HasPrefix(s.Series, "fallbackwatch_requests_total") {
						seen[s.Series[strings.Index(s.Series, "instance="):][:len(`instance="collector-a:9464"`)]] = true
					}
				}
				if len(seen) > 0 {
					require.Len(t, seen, 2, "%s: traffic must be split between two collectors", g.Name)
				}
			}
			for _, g := range f.Groups[1:] {
				for _, r := range g.Rules {
					require.True(t, fired[r.Alert], "no scenario makes %s fire", r.Alert)
				}
			}
		})
	}
}

func TestGeneratedAlertsAreComplete(t *testing.T) {
	f, err := Generate(withCapacity(t, sample2()), Options{})
	require.NoError(t, err)
	require.Equal(t, "fallbackwatch.rules", f.Groups[0].Name)
	for _, r := range f.Groups[0].Rules {
		require.NotEmpty(t, r.Record, "recording rules come first")
	}
	for _, r := range f.Groups[1].Rules {
		require.NotEmpty(t, r.Alert)
		require.NotEmpty(t, r.Labels["severity"], r.Alert)
		for _, a := range []string{"summary", "description", "runbook_url"} {
			require.NotEmpty(t, r.Annotations[a], "%s: %s", r.Alert, a)
		}
		require.True(t, strings.HasPrefix(r.Annotations["runbook_url"], DefaultRunbookURL+"#"), r.Alert)
	}
}

func TestBadInput(t *testing.T) {
	for _, c := range []struct {
		name string
		topo *topology.Topology
		opts Options
		want string
	}{
		{"invalid selector", sample1(), Options{Selector: `{namespace=mesh}`}, `selector "{namespace=mesh}"`},
		{"selector naming a metric", sample1(), Options{Selector: `{__name__="up"}`}, "must not match __name__"},
		{"capacity for an undefined subset", &topology.Topology{Subsets: sample1().Subsets, Edges: sample1().Edges,
			Capacity: map[topology.Subset]float64{sub("v4"): 10}}, Options{}, "capacity for " + reviews + "/v4: subset is not defined"},
		{"long window not longer than short", nil, Options{Windows: Windows{Short: model.Duration(time.Hour), Long: model.Duration(time.Hour)}}, "window.long 1h: must be longer than window.short 1h"},
		{"share above 1", nil, Options{Thresholds: Thresholds{Failed: 2}}, "threshold.failed 2: is a share"},
		{"relative runbook", nil, Options{RunbookURL: "runbook.md"}, `runbook-url "runbook.md"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Generate(c.topo, c.opts)
			require.ErrorContains(t, err, c.want)
			_, err = GenerateTests(c.topo, c.opts, "rules.yaml")
			require.ErrorContains(t, err, c.want)
		})
	}
}

func TestCapacityFileErrors(t *testing.T) {
	_, err := topology.LoadCapacity("testdata/capacity-undefined.yaml", sample1(), "default", "")
	require.ErrorContains(t, err, "subset "+reviews+"/v4 is not defined")
	_, err = topology.LoadCapacity("testdata/missing.yaml", sample1(), "default", "")
	require.ErrorContains(t, err, "missing.yaml")
}

func TestSelectorKeepsLabels(t *testing.T) {
	f, err := Generate(sample1(), Options{Selector: `namespace="mesh"`})
	require.NoError(t, err)
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			if strings.Contains(r.Expr, "sum by") {
				require.Contains(t, r.Expr, "sum by (namespace", r.Name())
			}
			if r.Expr == "vector(1)" {
				require.Equal(t, "mesh", r.Labels["namespace"])
			}
		}
	}
}

// TestRecordingRuleNamesSayWhatTheyRead checks Prometheus' level:metric:operations naming: a
// recording rule over one exported metric carries that metric's name (without _total) in its
// metric part, so a rule over fallbackwatch_upstream_unhealthy_total (503 UH) is not called 5xx.
func TestRecordingRuleNamesSayWhatTheyRead(t *testing.T) {
	f, err := Generate(withCapacity(t, sample2()), Options{})
	require.NoError(t, err)
	checked := 0
	for _, r := range f.Groups[0].Rules {
		expr, err := newParser().ParseExpr(r.Expr)
		require.NoError(t, err, r.Record)
		raw := map[string]bool{}
		parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
			if vs, ok := n.(*parser.VectorSelector); ok && !strings.Contains(vs.Name, ":") {
				raw[vs.Name] = true
			}
			return nil
		})
		if len(raw) != 1 {
			continue
		}
		for m := range raw {
			parts := strings.Split(r.Record, ":")
			require.Len(t, parts, 3, r.Record)
			require.True(t, strings.HasPrefix(parts[1], strings.TrimSuffix(m, "_total")),
				"%s reads %s; its metric part %q must start with %q", r.Record, m, parts[1], strings.TrimSuffix(m, "_total"))
			checked++
		}
	}
	require.Greater(t, checked, 5)
}

// TestPromtoolCatchesEveryThreshold proves the generated tests judge each alert by its own
// threshold: a rule file in which one alert's threshold is 1.5 times too high, or 1.5 times too
// low, fails the tests generated for the real threshold (the scenarios above and below it).
func TestPromtoolCatchesEveryThreshold(t *testing.T) {
	bin := promtool(t)
	o := shortWindows()
	th := o.Thresholds
	type mutant struct {
		alert, severity string
		threshold       float64
	}
	for _, c := range []struct {
		name    string
		topo    *topology.Topology
		mutants []mutant
	}{
		{"sample2-capacity", withCapacity(t, sample2()), []mutant{
			{AlertFallbackSustained, "critical", th.SustainedCritical},
			{AlertFallbackSustained, "warning", th.SustainedWarning},
			{AlertFallbackFailed, "critical", th.Failed},
			{AlertUnprotectedOutage, "critical", th.Unprotected},
			{AlertFallbackTargetOverCapacity, "warning", th.Capacity},
			{AlertFailoverExceedsCapacity, "warning", th.Failover},
			{AlertDecisionsInconsistent, "warning", th.Inconsistent},
			{AlertLinesRejected, "warning", th.Rejected},
			{AlertKafkaLagGrowing, "warning", th.KafkaLag},
		}},
		{"sample2", sample2(), []mutant{
			{AlertFallbackTargetLoadHigh, "warning", th.RelativeLoad},
			{AlertFailoverExceedsPeak, "info", th.FailoverPeak},
		}},
	} {
		f, err := Generate(c.topo, o)
		require.NoError(t, err)
		tf, err := GenerateTests(c.topo, o, "rules.yaml")
		require.NoError(t, err)
		for _, m := range c.mutants {
			// The scenarios that assert this alert alone, and the Kafka lag scenario.
			judged := *tf
			judged.Tests = nil
			for _, g := range tf.Tests {
				if strings.HasPrefix(g.Name, m.alert+" ") || (m.alert == AlertKafkaLagGrowing && strings.Contains(g.Name, "Kafka lag")) {
					judged.Tests = append(judged.Tests, g)
				}
			}
			require.NotEmpty(t, judged.Tests, "no scenario judges %s", m.alert)
			tests, err := judged.Marshal()
			require.NoError(t, err)
			t.Run(fmt.Sprintf("%s/%s-%s", c.name, m.alert, m.severity), func(t *testing.T) {
				t.Parallel()
				run := func(rf *RuleFile) (string, error) {
					rules, err := rf.Marshal()
					require.NoError(t, err)
					dir := t.TempDir()
					require.NoError(t, os.WriteFile(filepath.Join(dir, "rules.yaml"), rules, 0o644))
					require.NoError(t, os.WriteFile(filepath.Join(dir, "rules.test.yaml"), tests, 0o644))
					out, err := exec.Command(bin, "test", "rules", filepath.Join(dir, "rules.test.yaml")).CombinedOutput()
					return string(out), err
				}
				// The real rules pass the scenarios; each broken threshold fails them.
				out, err := run(f)
				require.NoError(t, err, "promtool rejected the real rules:\n%s", out)
				for _, factor := range []float64{1.5, 1 / 1.5} {
					out, err := run(mutateThreshold(t, f, m.alert, m.severity, m.threshold, factor))
					require.Error(t, err, "promtool accepted %s with threshold %v instead of %v:\n%s", m.alert, m.threshold*factor, m.threshold, out)
					require.Contains(t, out, m.alert)
				}
			})
		}
	}
}

// mutateThreshold returns a copy of f in which the alert's threshold th, written `> th` or
// `th * `, is multiplied by factor.
func mutateThreshold(t *testing.T, f *RuleFile, alert, severity string, th, factor float64) *RuleFile {
	t.Helper()
	out := &RuleFile{}
	found := 0
	for _, g := range f.Groups {
		ng := Group{Name: g.Name}
		for _, r := range g.Rules {
			if r.Alert == alert && r.Labels["severity"] == severity {
				old := num(th)
				mutated := num(th * factor)
				e := r.Expr
				e = strings.ReplaceAll(e, "> "+old+"\n", "> "+mutated+"\n")
				if strings.HasSuffix(e, "> "+old) {
					e = strings.TrimSuffix(e, old) + mutated
				}
				e = strings.ReplaceAll(e, " "+old+" * ", " "+mutated+" * ")
				require.NotEqual(t, r.Expr, e, "threshold %s not found in %s:\n%s", old, alert, r.Expr)
				r.Expr = e
				found++
			}
			ng.Rules = append(ng.Rules, r)
		}
		out.Groups = append(out.Groups, ng)
	}
	require.Equal(t, 1, found, "%s %s", alert, severity)
	return out
}

// TestRunbookHasEveryAlert checks that every runbook_url anchor has its section in
// monitoring/runbook.md.
func TestRunbookHasEveryAlert(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "monitoring", "runbook.md"))
	require.NoError(t, err)
	f, err := Generate(withCapacity(t, sample2()), Options{})
	require.NoError(t, err)
	g, err := Generate(sample2(), Options{})
	require.NoError(t, err)
	for _, rf := range []*RuleFile{f, g} {
		for _, r := range rf.Groups[1].Rules {
			require.Contains(t, string(doc), "\n## "+r.Alert+"\n", "monitoring/runbook.md has no section for %s", r.Alert)
		}
	}
}
