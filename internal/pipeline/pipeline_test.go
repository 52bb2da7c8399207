package pipeline

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fallbackwatch/fallbackwatch/aggregate"
	"github.com/fallbackwatch/fallbackwatch/internal/corpus"
	"github.com/fallbackwatch/fallbackwatch/parse"
	"github.com/fallbackwatch/fallbackwatch/routing"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	reviewsFQDN = "reviews.default.svc.cluster.local"
	routeLabel  = "default/reviews-route#0"
	criTime     = "2023-05-30T07:02:26.990123456Z"
	envoyText   = "2023-05-30T07:00:00.345000Z\tinfo\tads\tADS: new connection for node:sidecar~172.16.0.252~productpage-v1-5f9dbcd669-x2k7p.default~default.svc.cluster.local-1"
)

// Records of the guide (testdata/bookinfo) and variants of them.
var (
	// success: v3 fell back to v2 and v2 served; consistent with sample1 and sample2.
	success = corpus.SeedSuccess
	// failed: v3 fell back to v2, which was unhealthy too: 503 UH (R15); consistent with both.
	failed = corpus.SeedFailed
	// v2ToV1 is a successful fallback of v2 to v1: only sample2 routes to v2 with fallback v1;
	// under sample1 v2 is not a destination of the route (C2).
	v2ToV1 = strings.NewReplacer(
		`"fallback_path":"outbound|9080|v3|reviews.default.svc.cluster.local:outbound|9080|v2|reviews.default.svc.cluster.local"`,
		`"fallback_path":"outbound|9080|v2|reviews.default.svc.cluster.local:outbound|9080|v1|reviews.default.svc.cluster.local"`,
		`"fallback_final_cluster_name":"outbound|9080|v2|reviews.default.svc.cluster.local"`,
		`"fallback_final_cluster_name":"outbound|9080|v1|reviews.default.svc.cluster.local"`,
		`"upstream_cluster":"outbound|9080|v2|reviews.default.svc.cluster.local"`,
		`"upstream_cluster":"outbound|9080|v1|reviews.default.svc.cluster.local"`,
	).Replace(corpus.SeedSuccess)
	// namedRoute is success with Envoy's route_name set.
	namedRoute = strings.Replace(corpus.SeedSuccess, `"route_name":"-"`, `"route_name":"reviews-v3"`, 1)
)

func init() {
	if v2ToV1 == success || namedRoute == success {
		panic("pipeline tests: the seed records changed; update the replacements")
	}
}

// acceptedTotal sums fallbackwatch_records_accepted_total of a source over the directions.
func acceptedTotal(p *Pipeline, source string) float64 {
	var n float64
	for d := parse.DirectionNone; d <= parse.DirectionUnknown; d++ {
		n += testutil.ToFloat64(p.accepted.WithLabelValues(source, d.String()))
	}
	return n
}

// harness is a Pipeline on a fresh registry.
type harness struct {
	reg *prometheus.Registry
	p   *Pipeline
}

func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	c, err := aggregate.NewCounters(aggregate.Config{})
	require.NoError(t, err)
	reg := prometheus.NewPedanticRegistry()
	cfg.Counters, cfg.Registerer = c, reg
	p, err := New(cfg)
	require.NoError(t, err)
	return &harness{reg: reg, p: p}
}

func loadRouting(t *testing.T, sample string) *routing.Config {
	t.Helper()
	dir := filepath.Join("..", "..", "testdata", "bookinfo")
	cfg, err := routing.Load(filepath.Join(dir, "destinationrule.yaml"), filepath.Join(dir, sample+".yaml"))
	require.NoError(t, err)
	return cfg
}

// feed passes lines to st and returns what Line answered for each.
func feed(st *Stream, lines ...string) []bool {
	safe := make([]bool, len(lines))
	for i, l := range lines {
		safe[i] = st.Line([]byte(l))
	}
	return safe
}

// compare checks the named metrics against exposition text (HELP/TYPE lines are added here).
func (h *harness) compare(t *testing.T, want string, names ...string) {
	t.Helper()
	var b strings.Builder
	mfs, err := h.reg.Gather()
	require.NoError(t, err)
	help := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		help[mf.GetName()] = mf
	}
	for _, n := range names {
		mf, ok := help[n]
		require.True(t, ok, "metric %s not exported", n)
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", n, mf.GetHelp(), n, strings.ToLower(mf.GetType().String()))
		for _, l := range strings.Split(strings.TrimSpace(want), "\n") {
			l = strings.TrimSpace(l)
			if strings.HasPrefix(l, n+"{") || strings.HasPrefix(l, n+" ") {
				b.WriteString(l + "\n")
			}
		}
	}
	require.NoError(t, testutil.GatherAndCompare(h.reg, strings.NewReader(b.String()), names...))
}

// series returns the value of every series of a counter family, keyed by its labels as
// name=value pairs joined with commas, in label-name order.
func (h *harness) series(t *testing.T, name string) map[string]float64 {
	t.Helper()
	mfs, err := h.reg.Gather()
	require.NoError(t, err)
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			var parts []string
			for _, lp := range m.GetLabel() {
				parts = append(parts, lp.GetName()+"="+lp.GetValue())
			}
			out[strings.Join(parts, ",")] = m.GetCounter().GetValue()
		}
	}
	return out
}

func sum(m map[string]float64) float64 {
	var s float64
	for _, v := range m {
		s += v
	}
	return s
}

// reqLabels is the label set of a fallbackwatch_requests_total series in exposition order.
func reqLabels(primary, fbSubset, finalSubset, result, code, route, ns, wl string) string {
	fbService, finalService := reviewsFQDN, reviewsFQDN
	if fbSubset == "" {
		fbService = ""
	}
	if finalSubset == "" && result == "failed" {
		finalService = ""
	}
	return fmt.Sprintf(`code_class=%s,destination_service=%s,fallback_service=%s,fallback_subset=%s,final_service=%s,final_subset=%s,primary_subset=%s,result=%s,route=%s,source_namespace=%s,source_workload=%s`,
		code, reviewsFQDN, fbService, fbSubset, finalService, finalSubset, primary, result, route, ns, wl)
}

// TestRawStreamCounts feeds records, skipped and rejected lines of every reason through one
// stream without routing configuration: every line is counted once, in exactly one place.
func TestRawStreamCounts(t *testing.T) {
	h := newHarness(t, Config{})
	st := h.p.NewStream(SourceStdin, aggregate.Source{Namespace: "default", Workload: "productpage-v1"})
	lines := []string{
		success, success, failed, namedRoute,
		envoyText,                        // skipped: not_json
		"",                               // skipped: blank
		"   \t",                          // skipped: blank
		`{"level":"info","msg":"hello"}`, // skipped: not_access_log
		`{"authority":"reviews:9080","response_code":200,, "x":1}`,                                                                // rejected: invalid_json
		success[:len(success)/2],                                                                                                  // rejected: truncated
		"{\"authority\":\"rev\xffiews:9080\",\"response_code\":\"200\"}",                                                          // rejected: invalid_utf8
		`{"authority":"reviews:9080","response_code":{"a":1}}`,                                                                    // rejected: wrong_type
		`{"authority":"reviews:9080","response_code":"200","upstream_cluster":"outbound|abc|v1|` + reviewsFQDN + `"}`,             // rejected: bad_cluster
		`{"authority":"reviews:9080","response_code":"200","fallback_path":"outbound|9080|v3|` + reviewsFQDN + `:outbound|junk"}`, // rejected: bad_fallback_path
	}
	for i, safe := range feed(st, lines...) {
		require.True(t, safe, "line %d of a raw stream is always a safe resume point", i+1)
	}
	st.TooLong() // the reader skipped a line over the cap

	total := len(success)*2 + len(failed) + len(namedRoute) + len(envoyText) + 0 + 4 + len(lines[7])
	for _, l := range lines[8:] {
		total += len(l)
	}
	total += len(lines) // newlines
	require.Equal(t, float64(total), testutil.ToFloat64(h.p.bytesRead.WithLabelValues(SourceStdin)), "bytes read, newlines included")

	h.compare(t, `
fallbackwatch_lines_read_total{source="stdin"} 15
fallbackwatch_records_accepted_total{direction="gateway",source="stdin"} 0
fallbackwatch_records_accepted_total{direction="inbound",source="stdin"} 0
fallbackwatch_records_accepted_total{direction="none",source="stdin"} 0
fallbackwatch_records_accepted_total{direction="outbound",source="stdin"} 4
fallbackwatch_records_accepted_total{direction="unknown",source="stdin"} 0
fallbackwatch_lines_skipped_total{reason="blank",source="stdin"} 2
fallbackwatch_lines_skipped_total{reason="not_access_log",source="stdin"} 1
fallbackwatch_lines_skipped_total{reason="not_json",source="stdin"} 1
fallbackwatch_lines_rejected_total{reason="bad_cluster",source="stdin"} 1
fallbackwatch_lines_rejected_total{reason="bad_fallback_path",source="stdin"} 1
fallbackwatch_lines_rejected_total{reason="invalid_json",source="stdin"} 1
fallbackwatch_lines_rejected_total{reason="invalid_utf8",source="stdin"} 1
fallbackwatch_lines_rejected_total{reason="too_long",source="stdin"} 1
fallbackwatch_lines_rejected_total{reason="truncated",source="stdin"} 1
fallbackwatch_lines_rejected_total{reason="wrong_type",source="stdin"} 1
`, "fallbackwatch_lines_read_total", "fallbackwatch_records_accepted_total",
		"fallbackwatch_lines_skipped_total", "fallbackwatch_lines_rejected_total")

	// Without routing configuration the route label is Envoy's route_name ("-" exports as empty)
	// and no decisions are counted.
	require.Equal(t, map[string]float64{
		reqLabels("v3", "v2", "v2", "success", "2xx", "", "default", "productpage-v1"):           2,
		reqLabels("v3", "v2", "v2", "success", "2xx", "reviews-v3", "default", "productpage-v1"): 1,
		reqLabels("v3", "v2", "", "failed", "5xx", "", "default", "productpage-v1"):              1,
	}, h.series(t, aggregate.MetricRequests))
	require.Empty(t, h.series(t, aggregate.MetricDecisions))
	lintClean(t, h.reg)
}

func lintClean(t *testing.T, reg *prometheus.Registry) {
	t.Helper()
	problems, err := testutil.GatherAndLint(reg)
	require.NoError(t, err)
	require.Empty(t, problems)
}

// TestFramings feeds the same records framed as CRI (with P/F partial lines), docker json-file
// and Kafka envelopes, and finds them counted as in the raw stream.
func TestFramings(t *testing.T) {
	half := len(success) / 2
	tests := []struct {
		name     string
		cfg      Config
		src      aggregate.Source
		lines    []string
		safe     []bool // what Line answers per line
		accepted float64
		rejected map[string]float64
		skipped  map[string]float64
		requests map[string]float64
	}{
		{
			name: "cri partial lines",
			cfg:  Config{Format: parse.FormatCRI},
			src:  aggregate.Source{Namespace: "default", Workload: "productpage-v1"},
			lines: []string{
				criTime + " stdout P " + success[:half],
				criTime + " stdout F " + success[half:],
				criTime + " stdout F " + failed,
				criTime + " stdout P " + success[:10],
				criTime + " stderr F " + envoyText, // another stream's line between fragments
				criTime + " stdout P " + success[10:half],
				criTime + " stdout F " + success[half:],
				"not a cri line", // bad_envelope
			},
			safe:     []bool{false, true, true, false, false, false, true, true},
			accepted: 3,
			rejected: map[string]float64{"bad_envelope": 1},
			skipped:  map[string]float64{"not_json": 1},
			requests: map[string]float64{
				reqLabels("v3", "v2", "v2", "success", "2xx", "", "default", "productpage-v1"): 2,
				reqLabels("v3", "v2", "", "failed", "5xx", "", "default", "productpage-v1"):    1,
			},
		},
		{
			name: "cri detected, partial over the cap",
			cfg:  Config{MaxLineBytes: 2048},
			lines: []string{
				criTime + " stdout F " + success,
				criTime + " stdout P " + strings.Repeat("x", 1500),
				criTime + " stdout P " + strings.Repeat("x", 1500), // over 2048: partial_overflow
				criTime + " stdout P " + strings.Repeat("x", 1500), // still dropped
				criTime + " stdout F " + strings.Repeat("x", 10),   // ends the dropped line
				criTime + " stdout F " + failed,
			},
			safe:     []bool{true, false, false, false, true, true},
			accepted: 2,
			rejected: map[string]float64{"partial_overflow": 1},
			requests: map[string]float64{
				reqLabels("v3", "v2", "v2", "success", "2xx", "", "", ""): 1,
				reqLabels("v3", "v2", "", "failed", "5xx", "", "", ""):    1,
			},
		},
		{
			name: "docker json-file",
			lines: []string{
				dockerLine(success + "\n"),
				dockerLine(failed[:100]), // docker splits long lines without "\n"
				dockerLine(failed[100:] + "\n"),
				dockerLine("\n"),
				`{"log":"broken`, // bad_envelope
			},
			safe:     []bool{true, false, true, true, true},
			accepted: 2,
			rejected: map[string]float64{"bad_envelope": 1},
			skipped:  map[string]float64{"blank": 1},
			requests: map[string]float64{
				reqLabels("v3", "v2", "v2", "success", "2xx", "", "", ""): 1,
				reqLabels("v3", "v2", "", "failed", "5xx", "", "", ""):    1,
			},
		},
		{
			name: "kafka envelope with kubernetes metadata",
			cfg:  Config{EnvelopeField: "log"},
			lines: []string{
				envelope(success, "default", "productpage-v1-5f9dbcd669-x2k7p"),
				envelope(failed, "shop", "frontend-7"),
				envelope(namedRoute, "", ""), // no metadata: the stream's source
				`{"message":"no log field"}`, // bad_envelope
				`{"log":42}`,                 // bad_envelope
				envoyText,                    // not an envelope: passed to the parser, skipped
			},
			src:      aggregate.Source{Namespace: "fallback-ns", Workload: "fallback-wl"},
			safe:     []bool{true, true, true, true, true, true},
			accepted: 3,
			rejected: map[string]float64{"bad_envelope": 2},
			skipped:  map[string]float64{"not_json": 1},
			requests: map[string]float64{
				reqLabels("v3", "v2", "v2", "success", "2xx", "", "default", "productpage-v1"):            1,
				reqLabels("v3", "v2", "", "failed", "5xx", "", "shop", "frontend"):                        1,
				reqLabels("v3", "v2", "v2", "success", "2xx", "reviews-v3", "fallback-ns", "fallback-wl"): 1,
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.cfg)
			st := h.p.NewStream(SourceKafka, tc.src)
			require.Equal(t, tc.safe, feed(st, tc.lines...))
			require.Equal(t, float64(len(tc.lines)), testutil.ToFloat64(h.p.linesRead.WithLabelValues(SourceKafka)))
			require.Equal(t, tc.accepted, acceptedTotal(h.p, SourceKafka))
			require.Equal(t, withSource(tc.rejected), h.series(t, "fallbackwatch_lines_rejected_total"))
			require.Equal(t, withSource(tc.skipped), h.series(t, "fallbackwatch_lines_skipped_total"))
			require.Equal(t, tc.requests, h.series(t, aggregate.MetricRequests))
			lintClean(t, h.reg)
		})
	}
}

func withSource(byReason map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for r, v := range byReason {
		out["reason="+r+",source="+SourceKafka] = v
	}
	return out
}

func dockerLine(log string) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"log":%q,"stream":"stdout","time":"%s"}`, log, criTime)
	return b.String()
}

func envelope(line, ns, pod string) string {
	k := ""
	if ns != "" {
		k = fmt.Sprintf(`,"kubernetes":{"namespace_name":%q,"pod_name":%q,"container_name":"istio-proxy"}`, ns, pod)
	}
	return fmt.Sprintf(`{"log":%q,"stream":"stdout"%s}`, line+"\n", k)
}

// TestCorpusFramingsAgree runs the Bookinfo corpus through raw, CRI (split into P/F fragments),
// docker and auto-detected streams: the requests counted are the same series with the same values,
// and every record line is accepted.
func TestCorpusFramingsAgree(t *testing.T) {
	const n = 2000
	raw := corpus.Lines(n, corpus.Options{Scenario: corpus.Bookinfo, Format: corpus.Raw})
	records, text := 0, 0
	for _, l := range raw {
		if bytes.HasPrefix(l, []byte("{")) {
			records++
		} else {
			text++
		}
	}
	require.Positive(t, text, "the Bookinfo corpus has Envoy text lines at phase changes")

	var want map[string]float64
	for _, tc := range []struct {
		name   string
		format parse.Format
		opts   corpus.Options
	}{
		{"raw", parse.FormatRaw, corpus.Options{Format: corpus.Raw}},
		{"raw detected", parse.FormatAuto, corpus.Options{Format: corpus.Raw}},
		{"cri split", parse.FormatCRI, corpus.Options{Format: corpus.CRI, CRISplit: 300}},
		{"cri detected", parse.FormatAuto, corpus.Options{Format: corpus.CRI, CRISplit: 700}},
		{"docker", parse.FormatAuto, corpus.Options{Format: corpus.Docker}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Config{Format: tc.format, Routing: loadRouting(t, "sample1")})
			tc.opts.Scenario = corpus.Bookinfo
			lines := corpus.Lines(n, tc.opts)
			st := h.p.NewStream(SourceFile, aggregate.Source{})
			for _, l := range lines {
				st.Line(l)
			}
			require.Equal(t, float64(len(lines)), testutil.ToFloat64(h.p.linesRead.WithLabelValues(SourceFile)))
			require.Equal(t, float64(records), acceptedTotal(h.p, SourceFile))
			require.Equal(t, map[string]float64{"reason=not_json,source=file": float64(text)},
				h.series(t, "fallbackwatch_lines_skipped_total"))
			require.Empty(t, h.series(t, "fallbackwatch_lines_rejected_total"))
			got := h.series(t, aggregate.MetricRequests)
			require.Equal(t, float64(records), sum(got))
			require.Equal(t, float64(records), sum(h.series(t, aggregate.MetricDecisions)))
			if want == nil {
				want = got
			}
			require.Equal(t, want, got)
			lintClean(t, h.reg)
		})
	}
}

// TestRoutingLabelAndSwap: with routing configuration the route label is the VirtualService
// route the record matched, decisions are counted, and SetRouting takes effect at the next line.
func TestRoutingLabelAndSwap(t *testing.T) {
	h := newHarness(t, Config{Routing: loadRouting(t, "sample1")})
	st := h.p.NewStream(SourceFile, aggregate.Source{})
	// Under sample1 (100% v3, fallback v2) the v3→v2 records are consistent; a v2→v1 fallback
	// contradicts it: v2 is not a destination of the route (C2). The records come in time order
	// so that the inferred health timeline (C6) has nothing to warn about.
	feed(st, success, namedRoute, failed, v2ToV1, v2ToV1)
	h.compare(t, `
fallbackwatch_decisions_total{rule="none",verdict="consistent"} 3
fallbackwatch_decisions_total{rule="C2",verdict="inconsistent"} 2
`, aggregate.MetricDecisions)
	require.Equal(t, map[string]float64{
		// The route label replaces route_name, also for namedRoute.
		reqLabels("v3", "v2", "v2", "success", "2xx", routeLabel, "", ""): 2,
		reqLabels("v3", "v2", "", "failed", "5xx", routeLabel, "", ""):    1,
		reqLabels("v2", "v1", "v1", "success", "2xx", routeLabel, "", ""): 2,
	}, h.series(t, aggregate.MetricRequests))

	// sample2 routes half to v2 with fallback v1: the same records are now consistent.
	h.p.SetRouting(loadRouting(t, "sample2"))
	feed(st, v2ToV1, v2ToV1)
	h.compare(t, `
fallbackwatch_decisions_total{rule="none",verdict="consistent"} 5
fallbackwatch_decisions_total{rule="C2",verdict="inconsistent"} 2
`, aggregate.MetricDecisions)

	// nil turns checks off: no decisions, route label from route_name again.
	h.p.SetRouting(nil)
	require.Nil(t, h.p.Routing())
	feed(st, namedRoute)
	require.Equal(t, 7.0, sum(h.series(t, aggregate.MetricDecisions)))
	require.Equal(t, 1.0, h.series(t, aggregate.MetricRequests)[reqLabels("v3", "v2", "v2", "success", "2xx", "reviews-v3", "", "")])
	lintClean(t, h.reg)
}

// TestSourcesAndReady: each source has its own series; source_ready follows SetReady.
func TestSourcesAndReady(t *testing.T) {
	h := newHarness(t, Config{})
	for _, src := range []string{SourceFile, SourceStdin, SourceKafka} {
		st := h.p.NewStream(src, aggregate.Source{})
		feed(st, success, envoyText)
	}
	h.p.SetReady(SourceFile, true)
	h.p.SetReady(SourceKafka, true)
	h.p.SetReady(SourceKafka, false)
	h.compare(t, `
fallbackwatch_lines_read_total{source="file"} 2
fallbackwatch_lines_read_total{source="kafka"} 2
fallbackwatch_lines_read_total{source="stdin"} 2
fallbackwatch_records_accepted_total{direction="gateway",source="file"} 0
fallbackwatch_records_accepted_total{direction="inbound",source="file"} 0
fallbackwatch_records_accepted_total{direction="none",source="file"} 0
fallbackwatch_records_accepted_total{direction="outbound",source="file"} 1
fallbackwatch_records_accepted_total{direction="unknown",source="file"} 0
fallbackwatch_records_accepted_total{direction="gateway",source="kafka"} 0
fallbackwatch_records_accepted_total{direction="inbound",source="kafka"} 0
fallbackwatch_records_accepted_total{direction="none",source="kafka"} 0
fallbackwatch_records_accepted_total{direction="outbound",source="kafka"} 1
fallbackwatch_records_accepted_total{direction="unknown",source="kafka"} 0
fallbackwatch_records_accepted_total{direction="gateway",source="stdin"} 0
fallbackwatch_records_accepted_total{direction="inbound",source="stdin"} 0
fallbackwatch_records_accepted_total{direction="none",source="stdin"} 0
fallbackwatch_records_accepted_total{direction="outbound",source="stdin"} 1
fallbackwatch_records_accepted_total{direction="unknown",source="stdin"} 0
fallbackwatch_source_ready{source="file"} 1
fallbackwatch_source_ready{source="kafka"} 0
`, "fallbackwatch_lines_read_total", "fallbackwatch_records_accepted_total", "fallbackwatch_source_ready")
	require.Equal(t, 3.0, sum(h.series(t, aggregate.MetricRequests)))
}

// TestNew covers the configuration errors, and fallbackwatch_source_ready being declared by the
// pipeline alone: a registry that already holds one is a conflict, not a silent share.
func TestNew(t *testing.T) {
	_, err := New(Config{})
	require.ErrorContains(t, err, "no counters")

	c, err := aggregate.NewCounters(aggregate.Config{})
	require.NoError(t, err)
	reg := prometheus.NewRegistry()
	p, err := New(Config{Counters: c, Registerer: reg})
	require.NoError(t, err)
	p.SetReady(SourceStdin, true)
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`# HELP fallbackwatch_source_ready 1 when the source is open and reading.
# TYPE fallbackwatch_source_ready gauge
fallbackwatch_source_ready{source="stdin"} 1
`), "fallbackwatch_source_ready"))

	_, err = New(Config{Counters: c, Registerer: reg})
	require.Error(t, err, "a second pipeline on the same registry")

	other := prometheus.NewRegistry()
	other.MustRegister(prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "fallbackwatch_source_ready", Help: "1 when the source is open and reading."}, []string{"source"}))
	_, err = New(Config{Counters: c, Registerer: other})
	require.Error(t, err, "source_ready declared elsewhere")
}

// TestFormatMismatchIsSaidOnce: Envoy TEXT lines (Istio's default encoding, verbatim from
// istio.io) and records without the fallback keys are counted so that "format wrong" differs
// from "no traffic" in Prometheus, and logged once per source with what to change (§3, §6).
func TestFormatMismatchIsSaidOnce(t *testing.T) {
	var logs bytes.Buffer
	h := newHarness(t, Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	text, err := os.ReadFile(filepath.Join("..", "..", "testdata", "realworld", "logs", "istio-io-access-log.text.log"))
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(text)), "\n")
	noFields := `{"upstream_cluster":"outbound|9080|v3|reviews.default.svc.cluster.local","response_code":"200","protocol":"HTTP/1.1","start_time":"2023-05-30T07:02:26.990Z"}`
	for _, source := range []string{SourceFile, SourceKafka} {
		st := h.p.NewStream(source, aggregate.Source{})
		feed(st, lines...)
		feed(st, lines...)
		feed(st, noFields, noFields, "{", `  "upstream_cluster": "inbound|9080||",`, "}")
	}
	for _, source := range []string{SourceFile, SourceKafka} {
		require.Equal(t, 4.0, testutil.ToFloat64(h.p.skipped.WithLabelValues(source, string(parse.SkipEnvoyText))))
		require.Equal(t, 3.0, testutil.ToFloat64(h.p.skipped.WithLabelValues(source, string(parse.SkipMultilineJSON))))
		require.Equal(t, 2.0, testutil.ToFloat64(h.p.incomplete.WithLabelValues(source, MissingFallbackFields)))
		require.Equal(t, 2.0, testutil.ToFloat64(h.p.accepted.WithLabelValues(source, "outbound")))
	}
	out := logs.String()
	require.Equal(t, 2, strings.Count(out, "Envoy TEXT access logs"), "once per source:\n%s", out)
	require.Equal(t, 2, strings.Count(out, "printed over several lines"), out)
	// The TEXT advice and the missing-fields advice each name the fields: 2 sources × 2.
	require.Equal(t, 4, strings.Count(out, "com.aliyun.fallback:fallback-path"), out)
	require.Contains(t, out, "source=kafka")
	lintClean(t, h.reg)
}
