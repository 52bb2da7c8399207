package main

// The contract between the collector and what alertgen writes: every metric and label a rule or a
// dashboard query reads is one the collector binary really exports. The collector runs as users
// run it (files with a checkpoint, a Kafka topic, the routing configuration), its /metrics page
// is parsed with the exposition-format parser, and every generated expression with the PromQL
// parser. The test lives with alertgen because alertgen is where rules and dashboards meet; the
// collector is built from the same tree.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fallbackwatch/fallbackwatch/dashboards"
	"github.com/fallbackwatch/fallbackwatch/internal/clitest"
)

// labelSet is the label names a series family carries.
type labelSet map[string]bool

func (s labelSet) add(names ...string) labelSet {
	for _, n := range names {
		s[n] = true
	}
	return s
}

func (s labelSet) clone() labelSet { return labelSet{}.add(s.names()...) }

func (s labelSet) names() []string {
	out := make([]string, 0, len(s))
	for n := range s {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// targetLabels are what Prometheus adds to every scraped series.
var targetLabels = []string{"job", "instance"}

// prometheusSeries are the series Prometheus itself provides to rules and queries.
func prometheusSeries() map[string]labelSet {
	return map[string]labelSet{
		"up":     labelSet{}.add(targetLabels...),
		"ALERTS": labelSet{}.add("alertname", "alertstate", "severity"),
	}
}

// exportedSeries maps every series name of a scrape to its label names, target labels included:
// a histogram is its _bucket (with le), _sum and _count series, a summary its quantiles, _sum and
// _count.
func exportedSeries(families map[string]*dto.MetricFamily) map[string]labelSet {
	out := prometheusSeries()
	for name, mf := range families {
		ls := labelSet{}.add(targetLabels...)
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				ls.add(lp.GetName())
			}
		}
		switch mf.GetType() {
		case dto.MetricType_HISTOGRAM:
			out[name+"_bucket"] = ls.clone().add("le")
			out[name+"_sum"], out[name+"_count"] = ls.clone(), ls.clone()
		case dto.MetricType_SUMMARY:
			out[name] = ls.clone().add("quantile")
			out[name+"_sum"], out[name+"_count"] = ls.clone(), ls.clone()
		default:
			out[name] = ls
		}
	}
	return out
}

// namedExpr is one expression to check and where it comes from.
type namedExpr struct {
	where string
	expr  string
	label string // for a dashboard variable: the label label_values lists
}

// exprChecker checks expressions against the series that exist: exported ones, and those recorded
// by the rules of the same file.
type exprChecker struct {
	exported map[string]labelSet
	series   map[string]labelSet // exported and recorded
	errs     []error
}

func newExprChecker(exported map[string]labelSet) *exprChecker {
	c := &exprChecker{exported: exported, series: map[string]labelSet{}}
	for n, ls := range exported {
		c.series[n] = ls.clone()
	}
	return c
}

func (c *exprChecker) errorf(format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf(format, args...))
}

func parseExpr(s string) (parser.Expr, error) {
	return parser.NewParser(parser.Options{}).ParseExpr(s)
}

// addRecordingRules makes the series the recording rules produce known, with the labels their
// expressions give them plus their static labels. Rules may read series recorded by rules further
// down, so the labels are computed until nothing changes.
func (c *exprChecker) addRecordingRules(rules []rulefmt.Rule, where string) {
	type rec struct {
		name   string
		expr   parser.Expr
		static []string
	}
	var recs []rec
	for _, r := range rules {
		if r.Record == "" {
			continue
		}
		e, err := parseExpr(r.Expr)
		if err != nil {
			c.errorf("%s: record %s: %w", where, r.Record, err)
			continue
		}
		if c.exported[r.Record] != nil {
			c.errorf("%s: record %s: the collector exports a series of that name already", where, r.Record)
		}
		static := make([]string, 0, len(r.Labels))
		for k := range r.Labels {
			static = append(static, k)
		}
		recs = append(recs, rec{r.Record, e, static})
		if c.series[r.Record] == nil {
			c.series[r.Record] = labelSet{}
		}
	}
	for range len(recs) + 1 {
		changed := false
		for _, r := range recs {
			ls := c.series[r.name]
			n := len(ls)
			ls.add(c.outLabels(r.expr).names()...).add(r.static...)
			delete(ls, model.MetricNameLabel)
			changed = changed || len(ls) != n
		}
		if !changed {
			return
		}
	}
}

// outLabels returns the label names the result of e may carry.
func (c *exprChecker) outLabels(e parser.Expr) labelSet {
	switch e := e.(type) {
	case *parser.VectorSelector:
		return c.series[e.Name].clone()
	case *parser.MatrixSelector:
		return c.outLabels(e.VectorSelector)
	case *parser.SubqueryExpr:
		return c.outLabels(e.Expr)
	case *parser.ParenExpr:
		return c.outLabels(e.Expr)
	case *parser.UnaryExpr:
		return c.outLabels(e.Expr)
	case *parser.StepInvariantExpr:
		return c.outLabels(e.Expr)
	case *parser.NumberLiteral, *parser.StringLiteral:
		return labelSet{}
	case *parser.AggregateExpr:
		in := c.outLabels(e.Expr)
		switch e.Op {
		case parser.TOPK, parser.BOTTOMK, parser.LIMITK, parser.LIMIT_RATIO:
			return in
		}
		var out labelSet
		if e.Without {
			out = in
			for _, l := range e.Grouping {
				delete(out, l)
			}
		} else {
			out = labelSet{}.add(e.Grouping...)
		}
		if e.Op == parser.COUNT_VALUES {
			if s, ok := e.Param.(*parser.StringLiteral); ok {
				out.add(s.Val)
			}
		}
		return out
	case *parser.Call:
		switch e.Func.Name {
		case "vector", "time", "scalar", "pi":
			return labelSet{}
		case "absent", "absent_over_time":
			out := labelSet{}
			parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
				if vs, ok := n.(*parser.VectorSelector); ok {
					for _, m := range vs.LabelMatchers {
						if m.Name != model.MetricNameLabel && m.Type.String() == "=" {
							out.add(m.Name)
						}
					}
				}
				return nil
			})
			return out
		case "label_replace", "label_join":
			out := c.outLabels(e.Args[0])
			if s, ok := e.Args[1].(*parser.StringLiteral); ok {
				out.add(s.Val)
			}
			return out
		case "histogram_quantile":
			out := c.outLabels(e.Args[1])
			delete(out, "le")
			return out
		}
		out := labelSet{}
		for _, a := range e.Args {
			if a.Type() == parser.ValueTypeVector || a.Type() == parser.ValueTypeMatrix {
				out.add(c.outLabels(a).names()...)
			}
		}
		return out
	case *parser.BinaryExpr:
		lhs, rhs := c.outLabels(e.LHS), c.outLabels(e.RHS)
		vm := e.VectorMatching
		switch {
		case e.LHS.Type() != parser.ValueTypeVector:
			return rhs
		case e.RHS.Type() != parser.ValueTypeVector || vm == nil:
			return lhs
		case e.Op == parser.LOR:
			return lhs.add(rhs.names()...)
		case e.Op == parser.LAND || e.Op == parser.LUNLESS:
			return lhs
		}
		out, other := lhs, rhs
		if vm.Card == parser.CardOneToMany {
			out, other = rhs, lhs
		}
		if vm.Card == parser.CardOneToOne {
			if vm.On {
				out = labelSet{}.add(vm.MatchingLabels...)
			} else {
				for _, l := range vm.MatchingLabels {
					delete(out, l)
				}
			}
		}
		for _, l := range vm.Include {
			if other[l] {
				out.add(l)
			}
		}
		return out
	}
	return labelSet{}
}

// check reports every metric the expression reads that does not exist, every label a selector,
// by/without or on/ignoring/group_x names that the series does not carry, and for a dashboard
// variable a listed label its selector's series do not carry.
func (c *exprChecker) check(ne namedExpr) {
	e, err := parseExpr(ne.expr)
	if err != nil {
		c.errorf("%s: %w", ne.where, err)
		return
	}
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		switch n := n.(type) {
		case *parser.VectorSelector:
			ls, ok := c.series[n.Name]
			if !ok {
				c.errorf("%s: reads %s, which the collector does not export and no rule of the file records", ne.where, n.Name)
				return nil
			}
			for _, m := range n.LabelMatchers {
				if m.Name != model.MetricNameLabel && !ls[m.Name] {
					c.errorf("%s: selects %s on label %s, which it does not carry (it has %s)", ne.where, n.Name, m.Name, strings.Join(ls.names(), ", "))
				}
			}
		case *parser.AggregateExpr:
			in := c.outLabels(n.Expr)
			for _, l := range n.Grouping {
				if !in[l] {
					c.errorf("%s: %s by/without label %s, which %s does not carry", ne.where, n.Op, l, n.Expr)
				}
			}
		case *parser.BinaryExpr:
			vm := n.VectorMatching
			if vm == nil || n.LHS.Type() != parser.ValueTypeVector || n.RHS.Type() != parser.ValueTypeVector {
				return nil
			}
			lhs, rhs := c.outLabels(n.LHS), c.outLabels(n.RHS)
			for _, l := range vm.MatchingLabels {
				switch {
				case vm.On && !(lhs[l] && rhs[l]):
					c.errorf("%s: %s on (%s): label %s is not on both sides", ne.where, n.Op, strings.Join(vm.MatchingLabels, ", "), l)
				case !vm.On && !lhs[l] && !rhs[l]:
					c.errorf("%s: %s ignoring (%s): label %s is on neither side", ne.where, n.Op, strings.Join(vm.MatchingLabels, ", "), l)
				}
			}
			one := rhs // group_left takes labels from the right-hand side
			if vm.Card == parser.CardOneToMany {
				one = lhs
			}
			for _, l := range vm.Include {
				if !one[l] {
					c.errorf("%s: %s group_x (%s): label %s is not on the side it is taken from", ne.where, n.Op, strings.Join(vm.Include, ", "), l)
				}
			}
		}
		return nil
	})
	if ne.label != "" && !c.outLabels(e)[ne.label] {
		c.errorf("%s: label_values(%s, %s): the series carry no label %s", ne.where, ne.expr, ne.label, ne.label)
	}
}

// checkOutput checks the rules.yaml and the dashboards alertgen wrote into dir.
func checkOutput(t *testing.T, dir string, exported map[string]labelSet) error {
	t.Helper()
	c := newExprChecker(exported)
	rulesPath := filepath.Join(dir, RulesFile)
	rgs, errs := rulefmt.ParseFile(rulesPath, false, model.UTF8Validation, parser.NewParser(parser.Options{}), slog.New(slog.DiscardHandler))
	require.Empty(t, errs, "%s", rulesPath)
	var all []rulefmt.Rule
	for _, g := range rgs.Groups {
		all = append(all, g.Rules...)
	}
	c.addRecordingRules(all, rulesPath)
	n := 0
	for _, g := range rgs.Groups {
		for _, r := range g.Rules {
			name := r.Record
			if r.Alert != "" {
				name = "alert " + r.Alert
			}
			c.check(namedExpr{where: fmt.Sprintf("%s group %s %s", rulesPath, g.Name, name), expr: r.Expr})
			n++
		}
	}
	require.Greater(t, n, 20, "%s: rules", rulesPath)

	files := map[string][]byte{}
	matches, err := filepath.Glob(filepath.Join(dir, DashboardsDir, "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, matches, "%s: dashboards", dir)
	for _, m := range matches {
		b, err := os.ReadFile(m)
		require.NoError(t, err)
		files[filepath.Base(m)] = b
	}
	qs, err := dashboards.Queries(files)
	require.NoError(t, err)
	require.Greater(t, len(qs), 30, "%s: dashboard queries", dir)
	for _, q := range qs {
		expr, err := dashboards.Expand(q.Expr, dashboards.DefaultValues())
		require.NoError(t, err, q.Where())
		c.check(namedExpr{where: filepath.Join(dir, DashboardsDir, q.File) + " " + q.Where(), expr: expr, label: q.Label})
	}
	return errors.Join(c.errs...)
}

// TestCheckerCatchesWhatItIsFor runs the checker on expressions that are wrong in each way it
// looks for, against a small exposition.
func TestCheckerCatchesWhatItIsFor(t *testing.T) {
	const exposition = `# TYPE fallbackwatch_requests_total counter
fallbackwatch_requests_total{destination_service="a",primary_subset="v1",result="none"} 1
# TYPE fallbackwatch_request_duration_seconds histogram
fallbackwatch_request_duration_seconds_bucket{result="none",le="+Inf"} 1
fallbackwatch_request_duration_seconds_sum{result="none"} 1
fallbackwatch_request_duration_seconds_count{result="none"} 1
`
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(strings.NewReader(exposition))
	require.NoError(t, err)
	exported := exportedSeries(families)
	rec := rulefmt.Rule{Record: "pair:fallbackwatch_requests:rate5m",
		Expr: `sum by (destination_service, primary_subset) (rate(fallbackwatch_requests_total[5m]))`}
	for _, tc := range []struct {
		name, expr, want string
		label            string
	}{
		{"good", `sum by (le) (rate(fallbackwatch_request_duration_seconds_bucket{result="none", job="x"}[5m]))`, "", ""},
		{"good recorded", `pair:fallbackwatch_requests:rate5m{primary_subset="v1"} / on (destination_service, primary_subset) pair:fallbackwatch_requests:rate5m`, "", ""},
		{"good variable", `fallbackwatch_requests_total`, "", "primary_subset"},
		{"misspelt metric", `rate(fallbackwatch_request_total[5m])`, "reads fallbackwatch_request_total", ""},
		{"histogram base name", `fallbackwatch_request_duration_seconds`, "reads fallbackwatch_request_duration_seconds,", ""},
		{"unknown matcher label", `fallbackwatch_requests_total{subset="v1"}`, "on label subset", ""},
		{"unknown grouping label", `sum by (subset) (rate(fallbackwatch_requests_total[5m]))`, "by/without label subset", ""},
		{"label the recording dropped", `pair:fallbackwatch_requests:rate5m{result="none"}`, "on label result", ""},
		{"grouping on a dropped label", `sum by (result) (pair:fallbackwatch_requests:rate5m)`, "by/without label result", ""},
		{"on a label one side lacks", `fallbackwatch_requests_total / on (result) pair:fallbackwatch_requests:rate5m`, "label result is not on both sides", ""},
		{"ignoring an unknown label", `fallbackwatch_requests_total / ignoring (subset) fallbackwatch_requests_total`, "label subset is on neither side", ""},
		{"group_left a label the one side lacks", `fallbackwatch_requests_total * on (primary_subset) group_left (result) pair:fallbackwatch_requests:rate5m`, "label result is not on the side", ""},
		{"variable label", `fallbackwatch_requests_total`, "the series carry no label subset", "subset"},
		{"syntax", `rate(fallbackwatch_requests_total[5m]`, "unclosed left parenthesis", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newExprChecker(exported)
			c.addRecordingRules([]rulefmt.Rule{rec}, "test")
			c.check(namedExpr{where: "test", expr: tc.expr, label: tc.label})
			err := errors.Join(c.errs...)
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.want)
		})
	}
}

// TestRulesAndDashboardsReadExportedSeries runs the collector binary over the Bookinfo log with
// the routing configuration, a checkpoint file and a Kafka topic, scrapes it, and checks every
// expression alertgen writes for the generic and the Bookinfo configurations against the scrape.
func TestRulesAndDashboardsReadExportedSeries(t *testing.T) {
	start := time.Now()
	families := scrapeRunningCollector(t)
	for name, mf := range scrapeKubeRoutedCollector(t) {
		if _, ok := families[name]; !ok {
			families[name] = mf
		}
	}
	exported := exportedSeries(families)
	t.Logf("collector exported %d families in %v", len(families), time.Since(start).Round(time.Millisecond))
	for _, m := range []string{"fallbackwatch_upstream_unhealthy_total", "fallbackwatch_kafka_consumer_lag",
		"fallbackwatch_checkpoint_age_seconds", "fallbackwatch_decisions_total", "fallbackwatch_lines_rejected_total",
		"fallbackwatch_config_watch_up", "fallbackwatch_config_objects"} {
		require.Contains(t, exported, m, "the run must exercise every series")
	}

	routing := []string{"--routing", "testdata/bookinfo/destinationrule.yaml"}
	capacity := []string{"--capacity", "monitoring/bookinfo/capacity.yaml"}
	for _, c := range []struct {
		name string
		args []string
	}{
		{"generic", nil},
		{"sample1", append([]string{"--routing", "testdata/bookinfo/sample1.yaml"}, routing...)},
		{"sample1-capacity", append(append([]string{"--routing", "testdata/bookinfo/sample1.yaml"}, routing...), capacity...)},
		{"sample2", append([]string{"--routing", "testdata/bookinfo/sample2.yaml"}, routing...)},
		{"sample2-capacity", append(append([]string{"--routing", "testdata/bookinfo/sample2.yaml"}, routing...), capacity...)},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := t.TempDir()
			_, stderr, code := run(t, append(c.args, "--out", out)...)
			require.Equal(t, 0, code, stderr)
			require.NoError(t, checkOutput(t, out, exported))
		})
	}
}

// freePort returns a port on 127.0.0.1 nobody listens on right now.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// kubeletLogName is a container log file name as the kubelet writes it.
func kubeletLogName(pod, id string) string {
	return pod + "_default_istio-proxy-" + strings.Repeat(id, 64/len(id)) + ".log"
}

// scrapeRunningCollector builds and runs `collector run`, waits until it has read everything,
// scrapes /metrics once, stops it with SIGTERM and returns the parsed scrape.
func scrapeRunningCollector(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	root := repoRoot(t)
	bins, err := clitest.Build(t.TempDir(), "./cmd/collector")
	require.NoError(t, err)
	bin := bins["collector"]

	// Two files: the raw Bookinfo log with lines that reach the other counters (UH without
	// fallback, an application 500, a truncated record, a blank line, JSON that is no access log),
	// and the CRI copy whose successful-fallback record comes in P fragments.
	logs := filepath.Join(t.TempDir(), "containers")
	require.NoError(t, os.Mkdir(logs, 0o755))
	raw, err := os.ReadFile(filepath.Join(root, "testdata", "logs", "bookinfo-productpage.log"))
	require.NoError(t, err)
	extra, err := os.ReadFile(filepath.Join("testdata", "exposition-extra.log"))
	require.NoError(t, err)
	cri, err := os.ReadFile(filepath.Join(root, "testdata", "logs", "bookinfo-productpage.cri.log"))
	require.NoError(t, err)
	require.Contains(t, string(cri), " stdout P ", "the CRI sample has partial lines")
	rawLog := append(append(bytes.TrimRight(raw, "\n"), '\n'), extra...)
	cri = append(bytes.TrimRight(cri, "\n"), '\n')
	require.NoError(t, os.WriteFile(filepath.Join(logs, kubeletLogName("productpage-v1-5f9dbcd669-x2k7p", "a1")), rawLog, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(logs, kubeletLogName("productpage-v1-5f9dbcd669-q8w2n", "b2")), cri, 0o644))
	fileLines := float64(bytes.Count(rawLog, []byte{'\n'}) + bytes.Count(cri, []byte{'\n'}))

	// A Kafka topic with the source document's two example records and a text line.
	topic := fmt.Sprintf("istio-access-log-%d", time.Now().UnixNano())
	kf, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, topic), kfake.GroupMinSessionTimeout(100*time.Millisecond)) // 127.0.0.1
	require.NoError(t, err)
	t.Cleanup(kf.Close)
	var messages [][]byte
	for _, name := range []string{"seed-success.json", "seed-failed.json"} {
		b, err := os.ReadFile(filepath.Join(root, "testdata", "logs", name))
		require.NoError(t, err)
		messages = append(messages, bytes.TrimSpace(b))
	}
	messages = append(messages, []byte("2023-05-30T07:40:00.000000Z\tinfo\tEnvoy text log line"))
	produce(t, kf.ListenAddrs(), topic, messages)

	state := filepath.Join(t.TempDir(), "positions.json")
	// Everything read: every file line, every message, a lag per partition and a checkpoint.
	return runAndScrape(t, bin, []string{
		"--routing", filepath.Join(root, "testdata", "bookinfo", "destinationrule.yaml"),
		"--routing", filepath.Join(root, "testdata", "bookinfo", "sample2.yaml"),
		"--tail.state-file", state, "--tail.poll-interval", "50ms", "--tail.rescan-interval", "100ms",
		"--tail.checkpoint-interval", "100ms",
		"--kafka.brokers", strings.Join(kf.ListenAddrs(), ","), "--kafka.topic", topic, "--kafka.group", topic,
		filepath.Join(logs, "*.log"),
	}, func(families map[string]*dto.MetricFamily) bool {
		return sumOf(families, "fallbackwatch_lines_read_total", "source", "file") == fileLines &&
			sumOf(families, "fallbackwatch_kafka_messages_total", "topic", topic) == float64(len(messages)) &&
			families["fallbackwatch_kafka_consumer_lag"] != nil && families["fallbackwatch_checkpoint_age_seconds"] != nil
	}, func(families map[string]*dto.MetricFamily) string {
		return fmt.Sprintf("file lines %v of %v, messages %v of %d",
			sumOf(families, "fallbackwatch_lines_read_total", "source", "file"), fileLines,
			sumOf(families, "fallbackwatch_kafka_messages_total", "topic", topic), len(messages))
	})
}

// scrapeKubeRoutedCollector runs `collector run --routing.kubeconfig` against an API server
// that is not there, as in an outage, and scrapes it: the series only routing from the
// Kubernetes API exports.
func scrapeKubeRoutedCollector(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	bins, err := clitest.Build(t.TempDir(), "./cmd/collector")
	require.NoError(t, err)
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	require.NoError(t, os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters: [{name: gone, cluster: {server: "https://`+freePort(t)+`", insecure-skip-tls-verify: true}}]
users: [{name: watcher, user: {token: unused}}]
contexts: [{name: gone, context: {cluster: gone, user: watcher}}]
current-context: gone
`), 0o600))
	const up = "fallbackwatch_config_watch_up"
	families := runAndScrape(t, bins["collector"], []string{"--routing.kubeconfig", kubeconfig,
		"--tail.state-file", filepath.Join(dir, "positions.json"), filepath.Join(dir, "*.log"),
	}, func(families map[string]*dto.MetricFamily) bool { return families[up] != nil },
		func(map[string]*dto.MetricFamily) string { return "no " + up })
	require.Equal(t, 0.0, families[up].GetMetric()[0].GetGauge().GetValue(), "the API server is not there")
	return families
}

// runAndScrape runs `collector run` with args on a port of its own, scrapes /metrics until ready
// holds (20 s at most, then fails saying status), stops the collector with SIGTERM and returns
// the last scrape.
func runAndScrape(t *testing.T, bin string, args []string, ready func(map[string]*dto.MetricFamily) bool,
	status func(map[string]*dto.MetricFamily) string) map[string]*dto.MetricFamily {
	t.Helper()
	listen := freePort(t)
	cmd := exec.Command(bin, append([]string{"run", "--web.listen-address", listen}, args...)...)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = cmd.Process.Kill()
			<-done
		}
	})

	url := "http://" + listen + "/metrics"
	var families map[string]*dto.MetricFamily
	var err error
	deadline := time.Now().Add(20 * time.Second)
	for {
		families, err = scrape(url)
		if err == nil && ready(families) {
			break
		}
		if time.Now().After(deadline) {
			require.Failf(t, "the collector did not get ready in time",
				"last scrape error %v; %s\ncollector log:\n%s", err, status(families), stderr.String())
		}
		select {
		case err := <-done:
			require.Failf(t, "the collector exited early", "%v\n%s", err, stderr.String())
		case <-time.After(100 * time.Millisecond):
		}
	}

	require.NoError(t, syscall.Kill(cmd.Process.Pid, syscall.SIGTERM))
	select {
	case err := <-done:
		stopped = true
		require.NoError(t, err, "collector exit after SIGTERM:\n%s", stderr.String())
	case <-time.After(15 * time.Second):
		require.Fail(t, "the collector did not stop within 15s of SIGTERM", stderr.String())
	}
	return families
}

func produce(t *testing.T, brokers []string, topic string, values [][]byte) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ProducerLinger(0))
	require.NoError(t, err)
	defer cl.Close()
	recs := make([]*kgo.Record, len(values))
	for i, v := range values {
		recs[i] = &kgo.Record{Topic: topic, Value: v}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, cl.ProduceSync(ctx, recs...).FirstErr())
}

// scrape fetches url in the Prometheus text format and parses it.
func scrape(url string) (map[string]*dto.MetricFamily, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", string(expfmt.NewFormat(expfmt.TypeTextPlain)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		return nil, fmt.Errorf("GET %s: content type %q, want the text format", url, ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(resp.Body)
}

// sumOf adds up the samples of a counter or gauge family whose label name has value value.
func sumOf(families map[string]*dto.MetricFamily, name, label, value string) float64 {
	var s float64
	for _, m := range families[name].GetMetric() {
		if !slices.ContainsFunc(m.GetLabel(), func(lp *dto.LabelPair) bool { return lp.GetName() == label && lp.GetValue() == value }) {
			continue
		}
		s += m.GetCounter().GetValue() + m.GetGauge().GetValue()
	}
	return s
}
