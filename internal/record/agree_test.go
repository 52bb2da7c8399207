package record_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/fallbackwatch/fallbackwatch/aggregate"
	"github.com/fallbackwatch/fallbackwatch/internal/pipeline"
	"github.com/fallbackwatch/fallbackwatch/internal/replay"
	"github.com/fallbackwatch/fallbackwatch/routing"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
)

// groupKey is what the metrics and the replay report must agree on per routing outcome.
type groupKey struct {
	service, primary, final, result, route string
}

func (k groupKey) String() string {
	return fmt.Sprintf("%s/%s→%s %s %s", k.service, k.primary, k.final, k.result, k.route)
}

// viaRun counts lines as `collector run -` does: a pipeline stream into Counters.
func viaRun(t *testing.T, lines []string, cfg *routing.Config) map[groupKey]uint64 {
	t.Helper()
	counters, err := aggregate.NewCounters(aggregate.Config{})
	require.NoError(t, err)
	p, err := pipeline.New(pipeline.Config{Counters: counters, Routing: cfg, Registerer: prometheus.NewRegistry()})
	require.NoError(t, err)
	st := p.NewStream(pipeline.SourceStdin, aggregate.Source{})
	for _, l := range lines {
		st.Line([]byte(l))
	}
	out := map[groupKey]uint64{}
	for _, s := range counters.Snapshot().Requests {
		out[groupKey{s.DestinationService, s.PrimarySubset, s.FinalSubset, s.Result, s.Route}] += s.Requests
	}
	return out
}

// viaReplay counts lines as `collector replay --format json` does.
func viaReplay(t *testing.T, lines []string, cfg *routing.Config, workers int) (map[groupKey]uint64, *replay.Report) {
	t.Helper()
	in := strings.Join(lines, "\n") + "\n"
	rep, err := replay.Run(context.Background(), []replay.Input{{Name: "-", R: strings.NewReader(in)}},
		replay.Options{Config: cfg, Workers: workers})
	require.NoError(t, err)
	out := map[groupKey]uint64{}
	for _, g := range rep.Groups {
		out[groupKey{g.DestinationService, g.PrimarySubset, g.FinalSubset, g.Result, g.Route}] += uint64(g.Requests)
	}
	return out, rep
}

// TestRunAndReplayAgree feeds the same lines to `collector run` and `collector replay` and
// compares the counts per destination_service, primary_subset, final_subset, result and route:
// real Istio records (testdata/realworld/logs), the constructed variants and the seed's story.
func TestRunAndReplayAgree(t *testing.T) {
	story := readLines(t, "../../testdata/logs/bookinfo-productpage.log")
	var real []string
	real = append(real, readLines(t, realworld+"/istio-io-access-log.text.log")...)
	real = append(real, compactRecords(t, realworld+"/ssup2-sidecar.pretty.log")...)
	real = append(real, compactRecords(t, realworld+"/asm-fallback-doc.pretty.log")...)
	variants := []string{
		`{"upstream_cluster":"inbound|9080|http|reviews.default.svc.cluster.local","response_code":"200","protocol":"HTTP/1.1","start_time":"2023-05-30T07:02:27.000Z","fallback_result":"-"}`,
		`{"upstream_cluster":"inbound|9080||","response_code":"200","protocol":"HTTP/1.1","start_time":"1685430147.5","fallback_result":"-"}`,
		`{"upstream_cluster":"inbound-vip|9080|http|productpage.default.svc.cluster.local","response_code":"200","protocol":"HTTP/1.1"}`,
		`{"upstream_cluster":"outbound_.9080_._.reviews.default.svc.cluster.local","response_code":"0","protocol":"-"}`,
		`{"upstream_cluster":"httproute/default/backend/rule/0","response_code":"200","protocol":"HTTP/1.1"}`,
		`{"upstream_cluster":"-","response_code":"404","response_flags":"NR","authority":"nosuch:9080","fallback_result":"-","start_time":"2023-05-30T07:02:28.000+0000"}`,
		`{"upstream_cluster":"outbound|9080|v3|reviews.default.svc.cluster.local","response_code":"503","response_flags":"UH","authority":"reviews:9080","fallback_result":"-","protocol":"HTTP/1.1"}`,
		`{"upstream_cluster":"outbound|3306||mysql.default.svc.cluster.local","response_code":"0","protocol":"-","fallback_result":"-"}`,
	}
	all := append(append(append([]string{}, story...), real...), variants...)
	sample1 := loadRouting(t, "destinationrule.yaml", "sample1.yaml")
	for _, tc := range []struct {
		name  string
		lines []string
		cfg   *routing.Config
	}{
		{"story", story, nil},
		{"story checked", story, sample1},
		{"real", real, nil},
		{"real checked", real, sample1},
		{"variants", variants, nil},
		{"everything checked", all, sample1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run := viaRun(t, tc.lines, tc.cfg)
			rep, report := viaReplay(t, tc.lines, tc.cfg, 1)
			require.NotEmpty(t, run)
			require.Equal(t, run, rep, "collector run and collector replay disagree")
			rep4, _ := viaReplay(t, tc.lines, tc.cfg, 4)
			require.Equal(t, rep, rep4, "the report depends on --workers")
			// Nobody is a service named "" or "inbound": every judged record has a destination.
			for k := range run {
				require.NotEmpty(t, k.service, "%s", k)
				require.NotEqual(t, "inbound", k.service, "%s: a server-side record was counted as a decision", k)
			}
			var judged int64
			for _, g := range report.Groups {
				judged += g.Requests
			}
			require.Equal(t, report.RecordsByDirection["outbound"]+report.RecordsByDirection["none"], judged,
				"the report's groups hold the judged records, exactly")
		})
	}
}

// TestReplayReportsWhatItSaw: a replay of the real TEXT and pretty-printed logs finds no record
// and says what it saw (§6); the JSON report says the same in notes.
func TestReplayReportsWhatItSaw(t *testing.T) {
	for _, f := range []string{"istio-io-access-log.text.log", "ssup2-sidecar.pretty.log"} {
		_, rep := viaReplay(t, readLines(t, realworld+"/"+f), nil, 1)
		require.True(t, rep.NoRecords(), f)
		require.NotEmpty(t, rep.Notes, f)
		var text strings.Builder
		require.NoError(t, rep.WriteText(&text))
		require.Contains(t, text.String(), "no access-log record", f)
		if strings.Contains(f, "text") {
			require.Contains(t, text.String(), "Envoy TEXT access logs")
			require.Contains(t, text.String(), "accessLogEncoding: JSON")
		} else {
			require.Contains(t, text.String(), "printed over several lines")
		}
	}
	// Records without the fallback keys: said once, with the entries to add.
	_, rep := viaReplay(t, compactRecords(t, realworld+"/ssup2-sidecar.pretty.log"), nil, 1)
	require.False(t, rep.NoRecords())
	require.Equal(t, int64(5), rep.RecordsWithoutFallbackFields)
	require.Equal(t, map[string]int64{"outbound": 3, "inbound": 2}, rep.RecordsByDirection)
	var text strings.Builder
	require.NoError(t, rep.WriteText(&text))
	require.Equal(t, 1, strings.Count(text.String(), "com.aliyun.fallback:fallback-path"), text.String())
}

// TestReplayServedByNobody: the seed's failed fallback (R16) and a 503 UH without fallback (R14)
// are served by nobody: the text report never says the primary served them, and the JSON
// final_cluster is empty.
func TestReplayServedByNobody(t *testing.T) {
	asm := compactRecords(t, realworld+"/asm-fallback-doc.pretty.log")
	uh := `{"upstream_cluster":"outbound|9080|v1|ratings.default.svc.cluster.local","response_code":"503","response_flags":"UH","authority":"ratings:9080","fallback_result":"-","protocol":"HTTP/1.1"}`
	_, rep := viaReplay(t, []string{asm[1], uh}, nil, 1)
	require.Len(t, rep.Groups, 2)
	for _, g := range rep.Groups {
		require.Empty(t, g.FinalCluster, "%+v", g)
	}
	var text strings.Builder
	require.NoError(t, rep.WriteText(&text))
	require.Contains(t, text.String(), "finally served by: nobody 100.0%")
	require.NotContains(t, text.String(), "finally served by: v3")
	require.NotContains(t, text.String(), "finally served by: v1")
}

// TestReplayQuotesControlBytes: control sequences in log content never reach the text report
// raw (issue material §7 of the operator conventions).
func TestReplayQuotesControlBytes(t *testing.T) {
	evil := []string{
		"{\"upstream_cluster\":\"outbound|9080||reviews.default.svc.cluster.local\",\"route_name\":\"\\u001b[31mred\",\"response_code\":200,\"fallback_result\":\"-\"}",
		"{\"upstream_cluster\":\"\\u001b]0;title\\u0007\",\"response_code\":200}",
		"\x1b[31m{not json",
		"{\"response_code\":200,\"x\":\"\x1b[31m\" \x1b]0;t\x07}",
	}
	_, rep := viaReplay(t, evil, nil, 1)
	var text strings.Builder
	require.NoError(t, rep.WriteText(&text))
	out := text.String()
	require.NotContains(t, out, "\x1b", out)
	require.NotContains(t, out, "\x07", out)
	require.Contains(t, out, `\x1b[31mred`, "the route is shown, quoted")
}

// TestUntimedRecordsAreCounted: records without a usable start_time (§7) are counted in the
// groups and in records_without_time, and noted once; they are absent from the timeline.
func TestUntimedRecordsAreCounted(t *testing.T) {
	lines := []string{
		`{"upstream_cluster":"outbound|9080|v3|reviews.default.svc.cluster.local","response_code":"200","protocol":"HTTP/1.1","fallback_result":"-"}`,
		`{"upstream_cluster":"outbound|9080|v3|reviews.default.svc.cluster.local","response_code":"200","protocol":"HTTP/1.1","fallback_result":"-","start_time":"30/May/2023:07:02:26"}`,
		`{"upstream_cluster":"outbound|9080|v3|reviews.default.svc.cluster.local","response_code":"200","protocol":"HTTP/1.1","fallback_result":"-","start_time":"1685430146.990"}`,
	}
	run := viaRun(t, lines, nil)
	groups, rep := viaReplay(t, lines, nil, 1)
	require.Equal(t, run, groups)
	require.Equal(t, int64(2), rep.RecordsWithoutTime)
	var timeline int64
	for _, m := range rep.Timeline {
		timeline += m.Requests
	}
	require.Equal(t, int64(1), timeline)
	var text strings.Builder
	require.NoError(t, rep.WriteText(&text))
	require.Equal(t, 1, strings.Count(text.String(), "no usable start_time"), text.String())
}
