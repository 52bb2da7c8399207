package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"testing"

	"github.com/fallbackwatch/fallbackwatch/internal/corpus"
	"github.com/fallbackwatch/fallbackwatch/internal/replay"
	"github.com/fallbackwatch/fallbackwatch/routing"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const mixedRouting = "testdata/mixed-routing.yaml"

// TestMixedRoutingCoversCorpus keeps the benchmark honest: with testdata/mixed-routing.yaml every
// record of the Mixed corpus is checked against a VirtualService (no "unknown" verdict) and none
// contradicts it (C1–C5). The corpus's clusters follow health timelines with outages of tens of
// seconds to minutes, so the health the checker infers changes rarely: C6 warnings (a decision
// within the health margin of a change) stay under 0.5% of the records.
func TestMixedRoutingCoversCorpus(t *testing.T) {
	const n = 100000
	cfg, err := routing.Load(mixedRouting)
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, corpus.Generate(&buf, n, corpus.Options{}))
	rep, err := replay.Run(context.Background(), []replay.Input{{Name: "mixed", R: &buf}}, replay.Options{Config: cfg})
	require.NoError(t, err)
	require.Equal(t, int64(n), rep.Lines.Records)
	require.Zero(t, rep.Verdicts["unknown"], "records whose host has no VirtualService: %v", rep.Verdicts)
	require.Zero(t, rep.Verdicts["inconsistent"], "inconsistent records: %v", rep.Violations)
	require.Zero(t, rep.ViolationsTotal, "violations: %v", rep.Violations)
	warnings := rep.Verdicts["warning"]
	t.Logf("verdicts %v: C6 warnings %.3f%% of the records", rep.Verdicts, 100*float64(warnings)/n)
	require.Less(t, float64(warnings), 0.005*n, "C6 warnings: %v", rep.Warnings)
	require.Equal(t, int64(n)-warnings, rep.Verdicts["consistent"])
	for c, ivs := range rep.Health {
		require.Less(t, len(ivs), 100, "%s: health changes rarely", c)
	}
}

// BenchmarkReplay replays an in-memory Mixed corpus with the benchmark routing, so a CPU profile
// shows where `collector replay` spends its time without disk or process start-up:
//
//	go test ./internal/benchtool -run '^$' -bench Replay -cpuprofile /tmp/replay.prof
//	go tool pprof -top /tmp/replay.prof
func BenchmarkReplay(b *testing.B) {
	var buf bytes.Buffer
	require.NoError(b, corpus.Generate(&buf, 100000, corpus.Options{}))
	data := buf.Bytes()
	for _, tc := range []struct {
		name    string
		routing bool
	}{{"Routing", true}, {"NoRouting", false}} {
		b.Run(tc.name, func(b *testing.B) {
			var opts replay.Options
			if tc.routing {
				cfg, err := routing.Load(mixedRouting)
				require.NoError(b, err)
				opts.Config = cfg
			}
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				rep, err := replay.Run(context.Background(), []replay.Input{{Name: "mixed", R: bytes.NewReader(data)}}, opts)
				require.NoError(b, err)
				require.Equal(b, int64(100000), rep.Lines.Records)
			}
		})
	}
}

func TestMarkerLine(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
		err            bool
	}{
		{"dash", `{"a":"1","route_name":"-","b":2}`, `{"a":"1","route_name":"marker-3","b":2}`, false},
		{"named", `{"route_name":"cart-route"}`, `{"route_name":"marker-3"}`, false},
		{"missing", `{"a":"1"}`, "", true},
		{"unterminated", `{"route_name":"abc`, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := markerLine([]byte(tc.in), "marker-3")
			if tc.err {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, string(got))
		})
	}
}

func TestSeriesValue(t *testing.T) {
	page := []byte("# HELP x\nfallbackwatch_records_accepted_total{source=\"file\"} 7\n" +
		"fallbackwatch_records_accepted_total{source=\"kafka\"} 200000\n" +
		"fallbackwatch_records_accepted_total{source=\"kafka2\"} 3\n")
	for _, tc := range []struct {
		name, series string
		want         float64
		ok           bool
	}{
		{"kafka", `fallbackwatch_records_accepted_total{source="kafka"}`, 200000, true},
		{"file", `fallbackwatch_records_accepted_total{source="file"}`, 7, true},
		{"absent", `fallbackwatch_records_accepted_total{source="stdin"}`, 0, false},
		{"prefix only", `fallbackwatch_records_accepted_total`, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, ok := seriesValue(page, tc.series)
			require.Equal(t, tc.ok, ok)
			require.Equal(t, tc.want, v)
		})
	}
}

// TestHostileCorpusMeansTheSame keeps the second benchmark corpus honest: each rewritten line
// decodes (encoding/json, the oracle) to the original record plus two unknown fields, and a
// replay of both corpora gives the same records, verdicts, groups and timeline, so timing them
// compares equal work.
func TestHostileCorpusMeansTheSame(t *testing.T) {
	const n = 5000
	lines := corpus.Lines(n, corpus.Options{})
	rng := rand.New(rand.NewPCG(7, 1))
	var orig, hostile bytes.Buffer
	changed := 0
	for i, l := range lines {
		h, err := hostileLine(rng, l)
		require.NoError(t, err, "line %d", i+1)
		if !bytes.Equal(h, l) {
			changed++
		}
		var want, got map[string]any
		require.NoError(t, json.Unmarshal(l, &want))
		require.NoError(t, json.Unmarshal(h, &got), "line %d: %s", i+1, h)
		extra := 0
		for _, u := range unknownFields {
			if _, ok := got[u.key]; ok {
				extra++
				delete(got, u.key)
			}
		}
		require.Equal(t, 2, extra, "line %d: %s", i+1, h)
		require.Equal(t, want, got, "line %d: %s", i+1, h)
		orig.Write(append(l, '\n'))
		hostile.Write(append(h, '\n'))
	}
	require.Equal(t, n, changed)
	require.Greater(t, hostile.Len(), orig.Len())
	cfg, err := routing.Load(mixedRouting)
	require.NoError(t, err)
	run := func(name string, b *bytes.Buffer) *replay.Report {
		// One worker: the C6 warnings of a parallel replay depend on where blocks are cut, and
		// the second corpus's lines are longer, so its blocks are cut elsewhere.
		rep, err := replay.Run(context.Background(), []replay.Input{{Name: name, R: b}}, replay.Options{Config: cfg, Workers: 1})
		require.NoError(t, err)
		return rep
	}
	a, b := run("mixed", &orig), run("hostile", &hostile)
	require.Equal(t, int64(n), a.Lines.Records)
	require.Greater(t, b.Lines.Bytes, a.Lines.Bytes)
	b.Lines.Bytes = a.Lines.Bytes
	require.Equal(t, a.Lines, b.Lines)
	require.Equal(t, a.Verdicts, b.Verdicts)
	require.Equal(t, a.ViolationsByRule, b.ViolationsByRule)
	require.Equal(t, a.Groups, b.Groups)
	require.Equal(t, a.Timeline, b.Timeline)
}
