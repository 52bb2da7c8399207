package dashboards

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	exportedseries "github.com/fallbackwatch/fallbackwatch/internal/exported"

	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/fallbackwatch/fallbackwatch/topology"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// The Bookinfo configuration of the source document: reviews with subsets v1, v2, v3.
var (
	reviews = "reviews.default.svc.cluster.local"
	v1      = topology.Subset{Service: reviews, Subset: "v1"}
	v2      = topology.Subset{Service: reviews, Subset: "v2"}
	v3      = topology.Subset{Service: reviews, Subset: "v3"}
	route   = "default/reviews-route#0"
)

// sample1: 100% to v3, fallback v2.
func sample1() *topology.Topology {
	return &topology.Topology{
		Subsets: []topology.Subset{v1, v2, v3},
		Edges:   []topology.Edge{{Route: route, From: v3, To: v2}},
	}
}

// sample2: 50% v3 (fallback v2), 50% v2 (fallback v1).
func sample2() *topology.Topology {
	return &topology.Topology{
		Subsets: []topology.Subset{v1, v2, v3},
		Edges:   []topology.Edge{{Route: route, From: v2, To: v1}, {Route: route, From: v3, To: v2}},
	}
}

// sample2 with a capacity file giving v1 and v2 (not v3).
func sample2Capacity() *topology.Topology {
	t := sample2()
	t.Capacity = map[topology.Subset]float64{v1: 80, v2: 150}
	return t
}

type fixture struct {
	name string
	topo *topology.Topology
	opts Options
}

func fixtures() []fixture {
	return []fixture{
		{name: "generic", topo: &topology.Topology{}},
		{name: "sample1", topo: sample1()},
		{name: "sample2", topo: sample2()},
		{name: "sample2-capacity", topo: sample2Capacity()},
		{name: "sample2-selector", topo: sample2Capacity(), opts: Options{Selector: `{cluster="prod", job=~"fallbackwatch.*"}`}},
	}
}

func generate(t *testing.T, f fixture) map[string][]byte {
	t.Helper()
	files, err := Generate(f.topo, f.opts)
	require.NoError(t, err)
	require.Len(t, files, 3)
	for _, name := range []string{OverviewFile, PipelineFile, ConfigMapFile} {
		require.Contains(t, files, name)
	}
	return files
}

// TestGolden compares the overview dashboard of every fixture, and the pipeline dashboard and
// ConfigMap of one, with testdata/<fixture>.<file>.golden. Run with -update to rewrite them.
func TestGolden(t *testing.T) {
	for _, f := range fixtures() {
		t.Run(f.name, func(t *testing.T) {
			files := generate(t, f)
			golden := []string{OverviewFile}
			if f.name == "sample2-capacity" {
				golden = append(golden, PipelineFile, ConfigMapFile)
			}
			for _, name := range golden {
				path := filepath.Join("testdata", f.name+"."+name+".golden")
				if *update {
					require.NoError(t, os.WriteFile(path, files[name], 0o644))
				}
				want, err := os.ReadFile(path)
				require.NoError(t, err, "run go test ./dashboards -update to create it")
				require.Equal(t, string(want), string(files[name]), "%s differs from %s; if the change is intended, run with -update", name, path)
			}
		})
	}
}

// TestPipelineIndependentOfTopology: the pipeline dashboard only depends on the options.
func TestPipelineIndependentOfTopology(t *testing.T) {
	generic := generate(t, fixture{topo: nil})
	for _, f := range fixtures() {
		if f.opts.Selector != "" {
			continue
		}
		require.Equal(t, string(generic[PipelineFile]), string(generate(t, f)[PipelineFile]), f.name)
	}
}

func TestDeterministic(t *testing.T) {
	for _, f := range fixtures() {
		t.Run(f.name, func(t *testing.T) {
			a := generate(t, f)
			// The same topology in another order gives the same bytes, and the input is untouched.
			shuffled := *f.topo
			shuffled.Subsets = append([]topology.Subset(nil), f.topo.Subsets...)
			shuffled.Edges = append([]topology.Edge(nil), f.topo.Edges...)
			for i, j := 0, len(shuffled.Edges)-1; i < j; i, j = i+1, j-1 {
				shuffled.Edges[i], shuffled.Edges[j] = shuffled.Edges[j], shuffled.Edges[i]
			}
			for i, j := 0, len(shuffled.Subsets)-1; i < j; i, j = i+1, j-1 {
				shuffled.Subsets[i], shuffled.Subsets[j] = shuffled.Subsets[j], shuffled.Subsets[i]
			}
			before := append([]topology.Edge(nil), shuffled.Edges...)
			b, err := Generate(&shuffled, f.opts)
			require.NoError(t, err)
			require.Equal(t, before, shuffled.Edges, "Generate must not reorder the caller's topology")
			for name := range a {
				require.Equal(t, string(a[name]), string(b[name]), name)
			}
		})
	}
}

// dash is the generic view of a dashboard the structural checks read.
type dash struct {
	UID        string    `json:"uid"`
	Title      string    `json:"title"`
	Panels     []dpanel  `json:"panels"`
	Templating templates `json:"templating"`
}

type templates struct {
	List []struct {
		Name       string         `json:"name"`
		Type       string         `json:"type"`
		Query      any            `json:"query"`
		Datasource map[string]any `json:"datasource"`
	} `json:"list"`
}

type dpanel struct {
	ID         int            `json:"id"`
	Type       string         `json:"type"`
	Title      string         `json:"title"`
	Datasource map[string]any `json:"datasource"`
	GridPos    struct{ X, Y, W, H int }
	Panels     []dpanel `json:"panels"`
	Targets    []struct {
		RefID      string         `json:"refId"`
		Expr       string         `json:"expr"`
		Datasource map[string]any `json:"datasource"`
	} `json:"targets"`
}

func decode(t *testing.T, data []byte) dash {
	t.Helper()
	var d dash
	require.NoError(t, json.Unmarshal(data, &d))
	return d
}

var builtins = map[string]bool{"__rate_interval": true, "__range": true, "__interval": true}

func TestStructure(t *testing.T) {
	for _, f := range fixtures() {
		for _, file := range []string{OverviewFile, PipelineFile} {
			t.Run(f.name+"/"+file, func(t *testing.T) {
				data := generate(t, f)[file]
				require.True(t, json.Valid(data))
				d := decode(t, data)
				require.Equal(t, strings.TrimSuffix(file, ".json"), d.UID)
				require.NotEmpty(t, d.Title)

				// Variables: the first is the datasource; each query variable only refers to
				// variables defined before it (Grafana resolves them in order).
				require.NotEmpty(t, d.Templating.List)
				require.Equal(t, "datasource", d.Templating.List[0].Type)
				require.Equal(t, varDatasource, d.Templating.List[0].Name)
				require.Equal(t, "prometheus", d.Templating.List[0].Query)
				defined := map[string]bool{}
				for _, v := range d.Templating.List {
					require.False(t, defined[v.Name], "variable %s defined twice", v.Name)
					if v.Type == "query" {
						require.Equal(t, "${datasource}", v.Datasource["uid"], "variable %s", v.Name)
						for _, ref := range Variables(v.Query.(string)) {
							require.True(t, defined[ref] || builtins[ref], "variable %s uses $%s before it is defined", v.Name, ref)
						}
					}
					defined[v.Name] = true
				}

				ids := map[int]string{}
				var boxes []dpanel
				for _, p := range d.Panels {
					require.Positive(t, p.ID, "panel %q", p.Title)
					require.NotContains(t, ids, p.ID, "panel id %d used by %q and %q", p.ID, ids[p.ID], p.Title)
					ids[p.ID] = p.Title
					require.NotEmpty(t, p.Title, "panel %d", p.ID)
					require.Empty(t, p.Panels, "row %q: panels belong at the top level of an expanded row", p.Title)
					boxes = append(boxes, p)
					if p.Type == "row" {
						require.Equal(t, 24, p.GridPos.W)
						continue
					}
					require.Equal(t, "${datasource}", p.Datasource["uid"], "panel %q", p.Title)
					require.NotEmpty(t, p.Targets, "panel %q has no query", p.Title)
					refs := map[string]bool{}
					for _, tg := range p.Targets {
						require.NotEmpty(t, tg.RefID, "panel %q", p.Title)
						require.False(t, refs[tg.RefID], "panel %q: refId %s twice", p.Title, tg.RefID)
						refs[tg.RefID] = true
						require.NotEmpty(t, strings.TrimSpace(tg.Expr), "panel %q target %s", p.Title, tg.RefID)
						require.Equal(t, "${datasource}", tg.Datasource["uid"], "panel %q target %s", p.Title, tg.RefID)
						for _, ref := range Variables(tg.Expr) {
							require.True(t, defined[ref] || builtins[ref], "panel %q target %s uses undefined $%s", p.Title, tg.RefID, ref)
						}
					}
				}
				// Grid: inside 24 columns, no two panels overlap.
				for i, a := range boxes {
					require.Positive(t, a.GridPos.W, "panel %q", a.Title)
					require.Positive(t, a.GridPos.H, "panel %q", a.Title)
					require.LessOrEqual(t, a.GridPos.X+a.GridPos.W, 24, "panel %q", a.Title)
					for _, b := range boxes[i+1:] {
						overlap := a.GridPos.X < b.GridPos.X+b.GridPos.W && b.GridPos.X < a.GridPos.X+a.GridPos.W &&
							a.GridPos.Y < b.GridPos.Y+b.GridPos.H && b.GridPos.Y < a.GridPos.Y+a.GridPos.H
						require.False(t, overlap, "panels %q %+v and %q %+v overlap", a.Title, a.GridPos, b.Title, b.GridPos)
					}
				}
			})
		}
	}
}

// allowed is every metric the collector exports and its labels: the table in docs/metrics.md.
// TestAllowedMatchesDocs keeps the two in step.
var allowed = exportedseries.Series

// Label values the docs fix, checked where queries match them exactly.
var allowedValues = map[string][]string{
	"result":     {"none", "success", "failed", "unknown"},
	"verdict":    {"consistent", "inconsistent", "warning", "unknown"},
	"code_class": {"0xx", "1xx", "2xx", "3xx", "4xx", "5xx"},
}

func TestAllowedMatchesDocs(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "docs", "metrics.md"))
	require.NoError(t, err)
	text := string(doc)
	for metric, labels := range allowed {
		base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(metric, "_bucket"), "_sum"), "_count")
		require.True(t, regexp.MustCompile("`"+base+"[`{]").MatchString(text), "metric %s is not in docs/metrics.md", metric)
		for _, l := range labels {
			if l != "le" {
				require.True(t, regexp.MustCompile("[`{ ]"+l+"[`},]").MatchString(text), "label %s of %s is not in docs/metrics.md", l, metric)
			}
		}
	}
	for label, values := range allowedValues {
		for _, v := range values {
			if v == "2xx" || v == "3xx" || v == "4xx" {
				continue // the docs write `1xx` … `5xx`
			}
			require.True(t, strings.Contains(text, "`"+v+"`"), "value %s of %s is not in docs/metrics.md", v, label)
		}
	}
}

// Functions and aggregations the queries may use: all exist in Prometheus 2.42, the version the
// end-to-end test runs.
var allowedFunctions = map[string]bool{"rate": true, "vector": true, "label_replace": true}
var allowedAggregations = map[string]bool{"sum": true, "max": true, "topk": true}

// TestQueries parses every panel and variable expression with the PromQL parser, after
// substituting Grafana variables, and checks that it only uses exported metrics and labels, that
// every series is aggregated, and that the --selector matchers are on every series.
func TestQueries(t *testing.T) {
	values := []map[string]string{DefaultValues(), DefaultValues()}
	values[1][varNamespace] = "bookinfo"
	values[1][varService] = `reviews\\.default\\.svc\\.cluster\\.local`
	values[1][varSubset] = "(v1|v2)"

	for _, f := range fixtures() {
		t.Run(f.name, func(t *testing.T) {
			sel, err := parseSelector(f.opts.Selector)
			require.NoError(t, err)
			extra := map[string]bool{}
			for _, m := range sel {
				extra[regexp.MustCompile(`^[a-zA-Z_]\w*`).FindString(m)] = true
			}
			qs, err := Queries(generate(t, f))
			require.NoError(t, err)
			require.Greater(t, len(qs), 30)
			panels := map[string]bool{}
			for _, q := range qs {
				panels[q.Where()] = true
				for _, vals := range values {
					expr, err := Expand(q.Expr, vals)
					require.NoError(t, err, q.Where())
					checkExpr(t, q, expr, sel, extra)
				}
			}
			require.Len(t, panels, len(qs), "two queries with the same dashboard, panel and refId")
		})
	}
}

func checkExpr(t *testing.T, q Query, expr string, sel []string, extra map[string]bool) {
	t.Helper()
	where := q.Where() + ": " + expr
	node, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	require.NoError(t, err, where)
	if q.Variable != "" {
		_, ok := node.(*parser.VectorSelector)
		require.True(t, ok, "%s: a variable's label_values needs a series selector", where)
	}
	introduced := map[string]bool{} // labels label_replace adds
	parser.Inspect(node, func(n parser.Node, path []parser.Node) error {
		if c, ok := n.(*parser.Call); ok && c.Func.Name == "label_replace" {
			introduced[c.Args[1].(*parser.StringLiteral).Val] = true
		}
		return nil
	})
	labelOK := func(metricLabels []string, l string) bool {
		return extra[l] || introduced[l] || contains(metricLabels, l)
	}
	var metricLabels []string // labels of every metric in the expression, for by (...) clauses
	parser.Inspect(node, func(n parser.Node, path []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			labels, known := allowed[vs.Name]
			require.True(t, known, "%s: metric %q is not exported (docs/metrics.md)", where, vs.Name)
			metricLabels = append(metricLabels, labels...)
		}
		return nil
	})
	parser.Inspect(node, func(n parser.Node, path []parser.Node) error {
		switch n := n.(type) {
		case *parser.VectorSelector:
			labels := allowed[n.Name]
			got := map[string]bool{}
			for _, m := range n.LabelMatchers {
				if m.Name == "__name__" {
					continue
				}
				require.True(t, extra[m.Name] || contains(labels, m.Name), "%s: %s has no label %q (docs/metrics.md)", where, n.Name, m.Name)
				require.NotEqual(t, "instance", m.Name, "%s: never select on instance", where)
				if vals, fixed := allowedValues[m.Name]; fixed && (m.Type.String() == "=" || m.Type.String() == "!=") {
					require.Contains(t, vals, m.Value, "%s: %s=%q is not a documented value", where, m.Name, m.Value)
				}
				got[m.String()] = true
			}
			for _, m := range sel {
				require.True(t, got[m], "%s: selector matcher %s missing on %s", where, m, n.Name)
			}
			if q.Variable == "" {
				require.True(t, hasAggregation(path), "%s: %s is not aggregated with sum/max by (...)", where, n.Name)
			}
		case *parser.AggregateExpr:
			require.True(t, allowedAggregations[n.Op.String()], "%s: aggregation %s", where, n.Op)
			require.False(t, n.Without, "%s: use by (...), not without", where)
			for _, l := range n.Grouping {
				require.True(t, labelOK(metricLabels, l), "%s: grouping by unknown label %q", where, l)
			}
		case *parser.Call:
			require.True(t, allowedFunctions[n.Func.Name], "%s: function %s", where, n.Func.Name)
		case *parser.BinaryExpr:
			if n.VectorMatching != nil {
				for _, l := range n.VectorMatching.MatchingLabels {
					require.True(t, labelOK(metricLabels, l), "%s: matching on unknown label %q", where, l)
				}
			}
		}
		return nil
	})
}

func hasAggregation(path []parser.Node) bool {
	for _, n := range path {
		if _, ok := n.(*parser.AggregateExpr); ok {
			return true
		}
	}
	return false
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// TestConfigMap: the ConfigMap is YAML Kubernetes accepts for Grafana's sidecar, and its data is
// exactly the dashboard files.
func TestConfigMap(t *testing.T) {
	for _, f := range append(fixtures(), fixture{name: "custom", topo: sample1(), opts: Options{
		UIDPrefix: "fw-prod", Namespace: "grafana", ConfigMapLabels: map[string]string{"grafana_dashboard": "fallback", "team": "mesh"},
	}}) {
		t.Run(f.name, func(t *testing.T) {
			files, err := Generate(f.topo, f.opts)
			require.NoError(t, err)
			o := f.opts.WithDefaults()
			var cm struct {
				APIVersion string `yaml:"apiVersion"`
				Kind       string `yaml:"kind"`
				Metadata   struct {
					Name      string            `yaml:"name"`
					Namespace string            `yaml:"namespace"`
					Labels    map[string]string `yaml:"labels"`
				} `yaml:"metadata"`
				Data map[string]string `yaml:"data"`
			}
			dec := yaml.NewDecoder(bytes.NewReader(files[o.UIDPrefix+"-dashboards-configmap.yaml"]))
			dec.KnownFields(true)
			require.NoError(t, dec.Decode(&cm))
			require.Equal(t, "v1", cm.APIVersion)
			require.Equal(t, "ConfigMap", cm.Kind)
			require.Equal(t, o.UIDPrefix+"-dashboards", cm.Metadata.Name)
			require.Equal(t, o.Namespace, cm.Metadata.Namespace)
			require.Equal(t, o.ConfigMapLabels, cm.Metadata.Labels)
			var names []string
			for name := range cm.Data {
				names = append(names, name)
				require.Equal(t, string(files[name]), cm.Data[name], name)
				require.Equal(t, strings.TrimSuffix(name, ".json"), decode(t, files[name]).UID)
			}
			sort.Strings(names)
			require.Equal(t, []string{o.UIDPrefix + "-overview.json", o.UIDPrefix + "-pipeline.json"}, names)
			// kubectl apply keeps a copy in an annotation limited to 256 KiB.
			require.Less(t, len(files[o.UIDPrefix+"-dashboards-configmap.yaml"]), 256<<10)
		})
	}
}

// TestTopologyPanels checks what the topology changes: the N-1 table (one row per edge, capacity
// columns only with capacities) and the capacity panels.
func TestTopologyPanels(t *testing.T) {
	for _, tc := range []struct {
		fixture        string
		n1Targets      int // 0: no N-1 table
		n1Edges        int
		capacityPanel  bool
		capacityLines  int
		capacityDivide []string
	}{
		{fixture: "generic"},
		{fixture: "sample1", n1Targets: 3, n1Edges: 1},
		{fixture: "sample2", n1Targets: 3, n1Edges: 2},
		{fixture: "sample2-capacity", n1Targets: 5, n1Edges: 2, capacityPanel: true, capacityLines: 2, capacityDivide: []string{"/ 80", "/ 150"}},
	} {
		t.Run(tc.fixture, func(t *testing.T) {
			var f fixture
			for _, x := range fixtures() {
				if x.name == tc.fixture {
					f = x
				}
			}
			d := decode(t, generate(t, f)[OverviewFile])
			byTitle := map[string]dpanel{}
			for _, p := range d.Panels {
				byTitle[p.Title] = p
			}
			n1, ok := byTitle["N-1: can each fallback target absorb its source failing?"]
			require.Equal(t, tc.n1Targets > 0, ok)
			if ok {
				require.Len(t, n1.Targets, tc.n1Targets)
				for _, tg := range n1.Targets {
					require.Equal(t, tc.n1Edges, strings.Count(tg.Expr, `"to", "`), "one labelled term per edge: %s", tg.Expr)
				}
				// Each edge's source load is counted on its route only, minus what the target
				// already serves of it.
				require.Contains(t, n1.Targets[1].Expr, `route="default/reviews-route#0", destination_service="reviews.default.svc.cluster.local", primary_subset="v3"`)
				require.Contains(t, n1.Targets[1].Expr, `primary_subset="v3", final_service="reviews.default.svc.cluster.local", final_subset="v2"`)
			}
			capPanel, ok := byTitle["Load against capacity"]
			require.Equal(t, tc.capacityPanel, ok)
			if ok {
				require.Len(t, capPanel.Targets, len(tc.capacityDivide))
				for i, div := range tc.capacityDivide {
					require.True(t, strings.HasSuffix(capPanel.Targets[i].Expr, div), capPanel.Targets[i].Expr)
				}
			}
			served := byTitle["Load served by subset"]
			require.Len(t, served.Targets, 1+tc.capacityLines)
			require.Contains(t, byTitle, "Load against 1d ago")
		})
	}
}

func TestBadInput(t *testing.T) {
	for _, tc := range []struct {
		name string
		topo *topology.Topology
		opts Options
		want []string
	}{
		{name: "selector syntax", opts: Options{Selector: `{cluster=}`}, want: []string{`selector "{cluster=}"`}},
		{name: "selector on the metric name", opts: Options{Selector: `__name__="up"`}, want: []string{`selector "__name__=\"up\""`}},
		{name: "selector on the metric name regexp", opts: Options{Selector: `{__name__=~"up.*"}`}, want: []string{"metric name must not be set twice"}},
		{name: "selector is an expression", opts: Options{Selector: `rate(x[5m])`}, want: []string{`selector "rate(x[5m])"`}},
		{name: "namespace", opts: Options{Namespace: "Monitoring_NS"}, want: []string{`namespace "Monitoring_NS"`}},
		{name: "uid prefix", opts: Options{UIDPrefix: strings.Repeat("x", 40)}, want: []string{"uid prefix"}},
		{name: "configmap label", opts: Options{ConfigMapLabels: map[string]string{"grafana dashboard": "1", "ok": "bad value"}},
			want: []string{`configmap label "grafana dashboard"`, `configmap label "ok": value "bad value"`}},
		{name: "thresholds", opts: Options{FallbackShare: 5, CapacityWarning: -1}, want: []string{"fallback share threshold 5", "capacity warning -1"}},
		{name: "baseline", opts: Options{Baseline: "yesterday"}, want: []string{`baseline "yesterday"`}},
		{name: "capacity", topo: &topology.Topology{Subsets: []topology.Subset{v2}, Capacity: map[topology.Subset]float64{v2: 0}},
			want: []string{"capacity of reviews.default.svc.cluster.local/v2: 0"}},
		{name: "edge", topo: &topology.Topology{Edges: []topology.Edge{{From: v3, To: v2}}}, want: []string{"empty route"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files, err := Generate(tc.topo, tc.opts)
			require.Error(t, err)
			require.Nil(t, files)
			for _, w := range tc.want {
				require.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestSelectorForms(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"{}", nil},
		{`cluster="prod"`, []string{`cluster="prod"`}},
		{` { cluster="prod",job!~"a|b" } `, []string{`cluster="prod"`, `job!~"a|b"`}},
		{`{cluster=""}`, []string{`cluster=""`}},
	} {
		got, err := parseSelector(tc.in)
		require.NoError(t, err, tc.in)
		require.Equal(t, tc.want, got, tc.in)
	}
}

func TestExpand(t *testing.T) {
	got, err := Expand(`rate(x{a=~"$service", b="${subset}", c="[[namespace]]"}[$__rate_interval])`, DefaultValues())
	require.NoError(t, err)
	require.Equal(t, `rate(x{a=~".*", b=".*", c=".*"}[1m])`, got)
	_, err = Expand(`x{a="$nope"}`, DefaultValues())
	require.ErrorContains(t, err, "nope")
	require.Equal(t, []string{"service", "__rate_interval"}, Variables(`rate(x{a=~"$service"}[$__rate_interval]) / $service`))
}

func TestRefID(t *testing.T) {
	for i, want := range map[int]string{0: "A", 25: "Z", 26: "AA", 27: "AB", 51: "AZ", 52: "BA", 701: "ZZ", 702: "AAA"} {
		require.Equal(t, want, refID(i), fmt.Sprint(i))
	}
}
