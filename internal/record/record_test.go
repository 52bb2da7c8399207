package record_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fallbackwatch/fallbackwatch/aggregate"
	"github.com/fallbackwatch/fallbackwatch/internal/record"
	"github.com/fallbackwatch/fallbackwatch/parse"
	"github.com/fallbackwatch/fallbackwatch/routing"
	"github.com/stretchr/testify/require"
)

const realworld = "../../testdata/realworld/logs"

// readLines returns the lines of a file under testdata.
func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// compactRecords turns a file of pretty-printed JSON records into one record per line, as Envoy
// writes them: each record from a line holding "{" to the line holding "}".
func compactRecords(t *testing.T, path string) []string {
	t.Helper()
	var out []string
	var cur []string
	for _, l := range readLines(t, path) {
		cur = append(cur, l)
		if strings.TrimSpace(l) == "}" {
			var b bytes.Buffer
			require.NoError(t, json.Compact(&b, []byte(strings.Join(cur, "\n"))), path)
			out = append(out, b.String())
			cur = nil
		}
	}
	require.Empty(t, cur, "%s ends inside a record", path)
	return out
}

func loadRouting(t *testing.T, files ...string) *routing.Config {
	t.Helper()
	var paths []string
	for _, f := range files {
		paths = append(paths, filepath.Join("../../testdata/bookinfo", f))
	}
	cfg, err := routing.Load(paths...)
	require.NoError(t, err)
	return cfg
}

// want is what a line should become, from the semantics (fallback-semantics.md) and the issue
// text, never from running the step.
type want struct {
	kind      record.Kind
	reason    parse.Reason
	direction parse.Direction
	judged    bool
	verdict   string // with the routing configuration; "" when not checked
	rule      string
	message   string // a part of the verdict's message
	service   string // destination_service
	primary   string // primary_subset
	final     string // final_service
	finalSub  string
	result    string
	code      string
	timed     bool
	fields    bool // the format has the fallback keys
}

const (
	mockServer = "mock-server.default.svc.cluster.local"
	reviews    = "reviews.default.svc.cluster.local"
)

// TestRealWorldLogs gives every real record of testdata/realworld/logs the outcome, verdict and
// labels it should get.
func TestRealWorldLogs(t *testing.T) {
	text := readLines(t, filepath.Join(realworld, "istio-io-access-log.text.log"))
	ssup2 := compactRecords(t, filepath.Join(realworld, "ssup2-sidecar.pretty.log"))
	asm := compactRecords(t, filepath.Join(realworld, "asm-fallback-doc.pretty.log"))
	require.Len(t, text, 2)
	require.Len(t, ssup2, 5)
	require.Len(t, asm, 2)

	tests := []struct {
		name string
		line string
		want want
	}{
		// §6: Istio's default TEXT encoding is the wrong format, said as such.
		{"istio.io TEXT client side", text[0], want{kind: record.Skipped, reason: parse.SkipEnvoyText}},
		{"istio.io TEXT server side", text[1], want{kind: record.Skipped, reason: parse.SkipEnvoyText}},
		// Istio's default JSON keys without ASM's: client side judged, verdict unknown (§3).
		{"client 200 without fallback keys", ssup2[0], want{kind: record.Record, direction: parse.DirectionOutbound, judged: true,
			verdict: "unknown", message: "lacks the fallback fields", service: mockServer, final: mockServer,
			result: "none", code: "2xx", timed: true}},
		// §1: the server side of the same request is counted, never judged.
		{"server 200", ssup2[1], want{kind: record.Record, direction: parse.DirectionInbound, code: "2xx", timed: true}},
		{"client 503 from the application", ssup2[2], want{kind: record.Record, direction: parse.DirectionOutbound, judged: true,
			verdict: "unknown", message: "lacks the fallback fields", service: mockServer, final: mockServer,
			result: "none", code: "5xx", timed: true}},
		{"server 503", ssup2[3], want{kind: record.Record, direction: parse.DirectionInbound, code: "5xx", timed: true}},
		// Code 0 of an HTTP request (DC): 0xx, not tcp (the protocol is HTTP/1.1).
		{"client downstream disconnect", ssup2[4], want{kind: record.Record, direction: parse.DirectionOutbound, judged: true,
			verdict: "unknown", message: "lacks the fallback fields", service: mockServer, final: mockServer,
			result: "none", code: "0xx", timed: true}},
		// The seed's records: R15 and R16, consistent with the guide's scenario 1 (C2, C3).
		{"ASM successful fallback v3 to v2", asm[0], want{kind: record.Record, direction: parse.DirectionOutbound, judged: true,
			verdict: "consistent", service: reviews, primary: "v3", final: reviews, finalSub: "v2",
			result: "success", code: "2xx", timed: true, fields: true}},
		{"ASM failed fallback (served by nobody, R16)", asm[1], want{kind: record.Record, direction: parse.DirectionOutbound, judged: true,
			verdict: "consistent", service: reviews, primary: "v3",
			result: "failed", code: "5xx", timed: true, fields: true}},
	}
	cfg := loadRouting(t, "destinationrule.yaml", "sample1.yaml")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := record.New(record.Options{}, aggregate.Source{})
			s.SetRouting(cfg)
			checkOutcome(t, s.Line([]byte(tt.line)), tt.want)
		})
	}

	// The pretty-printed files as they are: every line says "multi-line JSON", none is rejected.
	for _, f := range []string{"ssup2-sidecar.pretty.log", "asm-fallback-doc.pretty.log"} {
		s := record.New(record.Options{}, aggregate.Source{})
		for i, l := range readLines(t, filepath.Join(realworld, f)) {
			o := s.Line([]byte(l))
			require.Equal(t, record.Skipped, o.Kind, "%s:%d", f, i+1)
			require.Equal(t, parse.SkipMultilineJSON, o.Reason, "%s:%d: %v", f, i+1, o.Err)
		}
	}
}

// TestConstructedVariants covers the shapes issue material names that the real files do not:
// other cluster kinds (§1, §2), records without a cluster and TCP records (§4), every
// start_time (§7).
func TestConstructedVariants(t *testing.T) {
	base := map[string]any{"authority": "reviews:9080", "method": "GET", "path": "/reviews/0", "protocol": "HTTP/1.1",
		"response_code": "200", "response_flags": "-", "route_name": "default", "start_time": "2023-05-30T07:02:26.990Z",
		"upstream_cluster": "outbound|9080|v3|" + reviews, "fallback_path": "-", "fallback_final_cluster_name": "-", "fallback_result": "-"}
	line := func(changes map[string]any) string {
		m := map[string]any{}
		for k, v := range base {
			m[k] = v
		}
		for k, v := range changes {
			if v == nil {
				delete(m, k)
			} else {
				m[k] = v
			}
		}
		b, err := json.Marshal(m)
		require.NoError(t, err)
		return string(b)
	}
	notJudged := func(d parse.Direction) want {
		return want{kind: record.Record, direction: d, code: "2xx", timed: true, fields: true}
	}
	tests := []struct {
		name string
		line string
		want want
	}{
		{"inbound without host", line(map[string]any{"upstream_cluster": "inbound|9080||"}), notJudged(parse.DirectionInbound)},
		{"inbound with host", line(map[string]any{"upstream_cluster": "inbound|9080||" + reviews}), notJudged(parse.DirectionInbound)},
		{"inbound before 1.10: the port name is no subset", line(map[string]any{"upstream_cluster": "inbound|9080|http|" + reviews}), notJudged(parse.DirectionInbound)},
		{"inbound passthrough v4", line(map[string]any{"upstream_cluster": "InboundPassthroughClusterIpv4"}), notJudged(parse.DirectionInbound)},
		{"inbound passthrough v6", line(map[string]any{"upstream_cluster": "InboundPassthroughClusterIpv6"}), notJudged(parse.DirectionInbound)},
		{"ambient waypoint inbound-vip", line(map[string]any{"upstream_cluster": "inbound-vip|9080|http|productpage.default.svc.cluster.local"}), notJudged(parse.DirectionInbound)},
		{"ambient connect_originate", line(map[string]any{"upstream_cluster": "connect_originate"}), notJudged(parse.DirectionInbound)},
		{"east-west gateway", line(map[string]any{"upstream_cluster": "outbound_.9080_._." + reviews}), notJudged(parse.DirectionGateway)},
		{"Envoy Gateway route", line(map[string]any{"upstream_cluster": "httproute/default/backend/rule/0"}), notJudged(parse.DirectionGateway)},
		{"renamed by outboundClusterStatName", line(map[string]any{"upstream_cluster": "reviews.default_http_v3"}), notJudged(parse.DirectionUnknown)},
		{"broken cluster is still rejected", line(map[string]any{"upstream_cluster": "outbound|http|v3|" + reviews}),
			want{kind: record.Rejected, reason: parse.RejectBadCluster}},
		// §4, R14: 503 UH without fallback: nobody served it.
		{"UH without fallback", line(map[string]any{"response_code": "503", "response_flags": "UH"}),
			want{kind: record.Record, direction: parse.DirectionOutbound, judged: true, service: reviews, primary: "v3",
				result: "none", code: "5xx", timed: true, fields: true}},
		// §4, R10: no route, no cluster: the __none__ bucket, judged (C5).
		{"404 NR without cluster", line(map[string]any{"response_code": "404", "response_flags": "NR", "upstream_cluster": "-"}),
			want{kind: record.Record, direction: parse.DirectionNone, judged: true, service: aggregate.NoneService,
				result: "none", code: "4xx", timed: true, fields: true}},
		// §4: TCP proxy record: code 0, protocol "-".
		{"TCP", line(map[string]any{"response_code": "0", "protocol": "-", "method": "-", "path": "-", "route_name": "-"}),
			want{kind: record.Record, direction: parse.DirectionOutbound, judged: true, service: reviews, primary: "v3",
				final: reviews, finalSub: "v3", result: "none", code: "tcp", timed: true, fields: true}},
		// §7: every start_time.
		{"epoch seconds with millis", line(map[string]any{"start_time": "1685430146.990"}), outboundOK()},
		{"offset without colon", line(map[string]any{"start_time": "2023-05-30T15:02:26.990+0800"}), outboundOK()},
		{"offset with colon", line(map[string]any{"start_time": "2023-05-30T15:02:26.990+08:00"}), outboundOK()},
		{"no start_time", line(map[string]any{"start_time": nil}), untimed(outboundOK())},
		{"unreadable start_time", line(map[string]any{"start_time": "yesterday"}), untimed(outboundOK())},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := record.New(record.Options{}, aggregate.Source{})
			checkOutcome(t, s.Line([]byte(tt.line)), tt.want)
		})
	}

	// The three forms of §7 denote the same instant.
	at := time.Date(2023, 5, 30, 7, 2, 26, 990e6, time.UTC)
	for _, v := range []string{"1685430146.990", "2023-05-30T15:02:26.990+0800", "2023-05-30T15:02:26.990+08:00", "2023-05-30T07:02:26.990Z"} {
		s := record.New(record.Options{}, aggregate.Source{})
		o := s.Line([]byte(line(map[string]any{"start_time": v})))
		require.True(t, o.Timed, v)
		require.True(t, at.Equal(o.Time), "%s: %s", v, o.Time)
	}
}

func outboundOK() want {
	return want{kind: record.Record, direction: parse.DirectionOutbound, judged: true, service: reviews, primary: "v3",
		final: reviews, finalSub: "v3", result: "none", code: "2xx", timed: true, fields: true}
}

func untimed(w want) want { w.timed = false; return w }

func checkOutcome(t *testing.T, o *record.Outcome, w want) {
	t.Helper()
	require.Equal(t, w.kind, o.Kind, "%v", o.Err)
	if w.kind != record.Record {
		require.Equal(t, w.reason, o.Reason, "%v", o.Err)
		return
	}
	rec := o.Rec
	require.Equal(t, w.direction.String(), o.Direction.String())
	require.Equal(t, w.judged, o.Judged)
	require.Equal(t, w.timed, o.Timed)
	require.Equal(t, w.fields, rec.FallbackFields)
	require.Equal(t, w.code, aggregate.CodeClass(rec))
	if !w.judged {
		require.False(t, o.Checked, "a record that is not a routing decision is never checked")
		return
	}
	svc := string(aggregate.DestinationService(rec.PrimaryCluster()))
	_, primary := aggregate.ClusterLabels(rec.PrimaryCluster())
	final, finalSub := aggregate.ClusterLabels(rec.FinalCluster())
	require.Equal(t, w.service, svc)
	require.Equal(t, w.primary, string(primary))
	require.Equal(t, w.final, string(final))
	require.Equal(t, w.finalSub, string(finalSub))
	require.Equal(t, w.result, rec.Result.String())
	if w.verdict == "" {
		require.False(t, o.Checked)
		return
	}
	require.True(t, o.Checked)
	require.Equal(t, w.verdict, o.Verdict.Kind.String(), o.Verdict.Message)
	require.Equal(t, w.rule, o.Verdict.Rule)
	require.Contains(t, o.Verdict.Message, w.message)
}

// TestAdviceNamesTheSeedFields: the advice for a format without fallback fields holds the three
// entries of the ASM documentation (fallback-semantics.md R18), verbatim.
func TestAdviceNamesTheSeedFields(t *testing.T) {
	for _, entry := range []string{
		`"fallback_path": "%DYNAMIC_METADATA(com.aliyun.fallback:fallback-path)%"`,
		`"fallback_final_cluster_name": "%DYNAMIC_METADATA(com.aliyun.fallback:final-cluster)%"`,
		`"fallback_result": "%DYNAMIC_METADATA(com.aliyun.fallback:fallback-result)%"`,
	} {
		require.Contains(t, record.MissingFallbackFieldsAdvice, entry)
		require.Contains(t, record.Advice(parse.SkipEnvoyText), entry)
	}
	require.Contains(t, record.Advice(parse.SkipEnvoyText), "accessLogEncoding: JSON")
	require.Empty(t, record.Advice(parse.SkipNotJSON))
}
