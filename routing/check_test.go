package routing

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/fallbackwatch/fallbackwatch/parse"
	"github.com/stretchr/testify/require"
)

func readLine(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return []byte(strings.TrimSpace(string(b)))
}

func parseLine(t testing.TB, line []byte) *parse.Record {
	t.Helper()
	var p parse.Parser
	rec := &parse.Record{}
	require.NoError(t, p.Parse(line, rec))
	return rec
}

// TestCheckSeedRecords: the seed's two log records are what sample 1 and sample 2 demand.
func TestCheckSeedRecords(t *testing.T) {
	for _, tc := range []struct{ sample, record string }{
		{"sample1.yaml", "seed-success.json"},
		{"sample2.yaml", "seed-failed.json"},
		{"sample2.yaml", "seed-success.json"},
	} {
		t.Run(tc.sample+"/"+tc.record, func(t *testing.T) {
			ch := NewChecker(bookinfo(t, tc.sample), CheckOptions{})
			rec := parseLine(t, readLine(t, "../testdata/logs/"+tc.record))
			at, err := rec.Time()
			require.NoError(t, err)
			v := ch.Check(rec, at)
			require.Equal(t, Consistent, v.Kind, v.Message)
			require.Equal(t, "default/reviews-route#0", v.Route.Label())
			require.Empty(t, v.Message)
		})
	}
	// The failed record is not what sample 1 demands? It is: v3 falls back to v2 there too.
	// Against a given timeline where v2 was healthy the failed record breaks C6.
	tl := NewTimeline()
	t0 := time.Date(2023, 5, 30, 7, 0, 0, 0, time.UTC)
	tl.Add(cl("v2"), t0, t0.Add(time.Hour), true)
	ch := NewChecker(bookinfo(t, "sample2.yaml"), CheckOptions{Health: tl})
	rec := parseLine(t, readLine(t, "../testdata/logs/seed-failed.json"))
	at, _ := rec.Time()
	v := ch.Check(rec, at)
	require.Equal(t, Inconsistent, v.Kind)
	require.Equal(t, "C6", v.Rule)
	require.Contains(t, v.Message, cl("v2"))
}

// record builds an access-log line from fields; "-" values are written as Envoy does.
func record(fields map[string]any) []byte {
	base := map[string]any{
		"authority": "reviews:9080", "method": "GET", "path": "/reviews/0", "response_code": "200",
		"response_flags": "-", "upstream_cluster": cl("v3"), "fallback_path": "-",
		"fallback_final_cluster_name": "-", "fallback_result": "-", "start_time": "2023-05-30T07:02:26.990Z",
	}
	for k, v := range fields {
		if v == nil {
			delete(base, k)
			continue
		}
		base[k] = v
	}
	b, _ := json.Marshal(base)
	return b
}

func TestCheckRules(t *testing.T) {
	s1 := bookinfo(t, "sample1.yaml")
	s2 := bookinfo(t, "sample2.yaml")
	path := func(a, b string) string { return cl(a) + ":" + cl(b) }
	cases := []struct {
		name    string
		cfg     *Config
		fields  map[string]any
		kind    VerdictKind
		rule    string
		mention []string
	}{
		{"C1 served by the chosen destination", s1, nil, Consistent, "", nil},
		{"C1 any port when the config names none", s1, map[string]any{"upstream_cluster": "outbound|80|v3|" + reviews}, Consistent, "", nil},
		{"C1 served by a cluster the route does not send to", s1, map[string]any{"upstream_cluster": cl("v1")}, Inconsistent, "C1", []string{cl("v1"), reviews + "/v3"}},
		{"C1 UH on a destination with fallback: fallback expected", s1, map[string]any{"response_code": "503", "response_flags": "UH"}, Inconsistent, "C1", []string{reviews + "/v3", reviews + "/v2"}},
		{"C1 upstream 503 without UH is the service's answer", s1, map[string]any{"response_code": "503"}, Consistent, "", nil},
		{"C1 fallback_path without fallback_result", s1, map[string]any{"fallback_path": path("v3", "v2")}, Inconsistent, "C1", nil},
		{"C2 successful fallback", s2, map[string]any{"fallback_path": path("v2", "v1"), "fallback_result": "fallback successful", "fallback_final_cluster_name": cl("v1"), "upstream_cluster": cl("v1")}, Consistent, "", nil},
		{"C2 code and flags are the target's (R15)", s1, map[string]any{"fallback_path": path("v3", "v2"), "fallback_result": "fallback successful", "fallback_final_cluster_name": cl("v2"), "upstream_cluster": cl("v2"), "response_code": "504", "response_flags": "UT"}, Consistent, "", nil},
		{"C2 wrong target", s1, map[string]any{"fallback_path": path("v3", "v1"), "fallback_result": "fallback successful", "fallback_final_cluster_name": cl("v1"), "upstream_cluster": cl("v1")}, Inconsistent, "C2", []string{reviews + "/v2", cl("v1")}},
		{"C2 final differs from target", s1, map[string]any{"fallback_path": path("v3", "v2"), "fallback_result": "fallback successful", "fallback_final_cluster_name": cl("v1"), "upstream_cluster": cl("v2")}, Inconsistent, "C2", []string{cl("v2"), cl("v1")}},
		{"C2 final missing", s1, map[string]any{"fallback_path": path("v3", "v2"), "fallback_result": "fallback successful", "upstream_cluster": cl("v2")}, Inconsistent, "C2", nil},
		{"C2 upstream differs from final", s1, map[string]any{"fallback_path": path("v3", "v2"), "fallback_result": "fallback successful", "fallback_final_cluster_name": cl("v2"), "upstream_cluster": cl("v3")}, Inconsistent, "C2", nil},
		{"C2 path missing", s1, map[string]any{"fallback_result": "fallback successful", "fallback_final_cluster_name": cl("v2"), "upstream_cluster": cl("v2")}, Inconsistent, "C2", nil},
		{"C2 first cluster not a destination", s1, map[string]any{"fallback_path": path("v1", "v2"), "fallback_result": "fallback successful", "fallback_final_cluster_name": cl("v2"), "upstream_cluster": cl("v2")}, Inconsistent, "C2", []string{cl("v1")}},
		{"C3 failed fallback from a non-destination", s1, map[string]any{"fallback_path": path("v1", "v2"), "fallback_result": "fallback cluster is unhealthy", "response_code": "503", "response_flags": "UH", "upstream_cluster": cl("v1")}, Inconsistent, "C3", []string{cl("v1")}},
		{"C3 failed fallback", s1, map[string]any{"fallback_path": path("v3", "v2"), "fallback_result": "fallback cluster is unhealthy", "response_code": "503", "response_flags": "UH"}, Consistent, "", nil},
		{"C3 failed fallback without path (R16)", s1, map[string]any{"fallback_result": "fallback cluster is unhealthy", "response_code": 503, "response_flags": "UH"}, Consistent, "", nil},
		{"C3 failed fallback must be 503", s1, map[string]any{"fallback_path": path("v3", "v2"), "fallback_result": "fallback cluster is unhealthy", "response_code": "200", "response_flags": "UH"}, Inconsistent, "C3", []string{"503 UH"}},
		{"C3 failed fallback needs UH", s1, map[string]any{"fallback_path": path("v3", "v2"), "fallback_result": "fallback cluster is unhealthy", "response_code": "503"}, Inconsistent, "C3", nil},
		{"C3 upstream must stay the chosen cluster", s1, map[string]any{"fallback_path": path("v3", "v2"), "fallback_result": "fallback cluster is unhealthy", "response_code": "503", "response_flags": "UH", "upstream_cluster": cl("v2")}, Inconsistent, "C3", nil},
		{"C3 final must be missing", s1, map[string]any{"fallback_path": path("v3", "v2"), "fallback_result": "fallback cluster is unhealthy", "response_code": "503", "response_flags": "UH", "fallback_final_cluster_name": cl("v2")}, Inconsistent, "C3", nil},
		{"C3 wrong target in a failed fallback", s1, map[string]any{"fallback_path": path("v3", "v1"), "fallback_result": "fallback cluster is unhealthy", "response_code": "503", "response_flags": "UH"}, Inconsistent, "C3", []string{reviews + "/v2", cl("v1")}},
		{"C4 three clusters (R17)", s2, map[string]any{"fallback_path": path("v3", "v2") + ":" + cl("v1"), "fallback_result": "fallback successful", "fallback_final_cluster_name": cl("v1"), "upstream_cluster": cl("v1")}, Inconsistent, "C4", []string{"one hop"}},
		{"C5 NR without metadata", s1, map[string]any{"response_code": "404", "response_flags": "NR", "upstream_cluster": nil}, Consistent, "", nil},
		{"C5 NC without metadata", s1, map[string]any{"response_code": "503", "response_flags": "NC"}, Consistent, "", nil},
		{"C5 NR with metadata", s1, map[string]any{"response_code": "404", "response_flags": "NR", "fallback_result": "fallback successful", "fallback_path": path("v3", "v2"), "fallback_final_cluster_name": cl("v2")}, Inconsistent, "C5", nil},
		{"R23 unknown fallback_result", s1, map[string]any{"fallback_result": "fallback skipped"}, Unknown, "", []string{"fallback skipped"}},
		{"no VirtualService for the host", s1, map[string]any{"authority": "ratings:9080", "upstream_cluster": "outbound|9080||ratings.default.svc.cluster.local"}, Unknown, "", []string{"ratings"}},
		{"authority unknown, cluster's host has a VirtualService", s1, map[string]any{"authority": "10.0.0.1:9080"}, Consistent, "", nil},
		{"authority as FQDN", s1, map[string]any{"authority": reviews + ":9080"}, Consistent, "", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ch := NewChecker(tc.cfg, CheckOptions{})
			v := ch.Check(parseLine(t, record(tc.fields)), time.Time{})
			require.Equal(t, tc.kind, v.Kind, "%s: %s", v.Rule, v.Message)
			require.Equal(t, tc.rule, v.Rule, v.Message)
			if tc.kind == Consistent {
				require.Empty(t, v.Message)
			} else {
				require.NotEmpty(t, v.Message)
			}
			for _, m := range tc.mention {
				require.Contains(t, v.Message, m)
			}
		})
	}
}

func TestCheckMultiHop(t *testing.T) {
	s2 := bookinfo(t, "sample2.yaml")
	ch := NewChecker(s2, CheckOptions{MultiHop: true})
	line := record(map[string]any{"fallback_path": cl("v3") + ":" + cl("v2") + ":" + cl("v1"), "fallback_result": "fallback successful",
		"fallback_final_cluster_name": cl("v1"), "upstream_cluster": cl("v1")})
	v := ch.Check(parseLine(t, line), time.Time{})
	require.Equal(t, Consistent, v.Kind, v.Message)
	line = record(map[string]any{"fallback_path": cl("v2") + ":" + cl("v1") + ":" + cl("v3"), "fallback_result": "fallback successful",
		"fallback_final_cluster_name": cl("v3"), "upstream_cluster": cl("v3")})
	v = ch.Check(parseLine(t, line), time.Time{})
	require.Equal(t, Inconsistent, v.Kind)
	require.Equal(t, "C4", v.Rule)
}

// TestCheckInferredHealth: C6 with a timeline inferred from the records themselves.
func TestCheckInferredHealth(t *testing.T) {
	ch := NewChecker(bookinfo(t, "sample1.yaml"), CheckOptions{HealthMargin: 5 * time.Second})
	t0 := time.Date(2023, 5, 30, 7, 0, 0, 0, time.UTC)
	served := parseLine(t, record(nil))
	require.Equal(t, Consistent, ch.Check(served, t0).Kind)
	fell := record(map[string]any{"fallback_path": cl("v3") + ":" + cl("v2"), "fallback_result": "fallback successful",
		"fallback_final_cluster_name": cl("v2"), "upstream_cluster": cl("v2")})
	v := ch.Check(parseLine(t, fell), t0.Add(2*time.Second))
	require.Equal(t, Warning, v.Kind, "falls back 2s after v3 served: close to a health change")
	require.Equal(t, "C6", v.Rule)
	require.Contains(t, v.Message, cl("v3"))
	require.Equal(t, Consistent, ch.Check(parseLine(t, fell), t0.Add(3*time.Second)).Kind, "v3 is down now")
	require.Equal(t, Consistent, ch.Check(served, t0.Add(time.Minute)).Kind, "v3 came back long after")

	iv := ch.Timeline().Intervals()
	require.Equal(t, []Interval{
		{Start: t0, End: t0, Healthy: true},
		{Start: t0.Add(2 * time.Second), End: t0.Add(3 * time.Second), Healthy: false},
		{Start: t0.Add(time.Minute), End: t0.Add(time.Minute), Healthy: true},
	}, iv[cl("v3")])
	require.Equal(t, HealthDown, ch.Timeline().At(cl("v3"), t0.Add(2500*time.Millisecond)))
	require.Equal(t, HealthUnknown, ch.Timeline().At(cl("v3"), t0.Add(30*time.Second)))
	require.Equal(t, HealthUp, ch.Timeline().At(cl("v2"), t0.Add(3*time.Second)))
}

// TestCheckInferredHealthOutOfOrder: a record older than the evidence already seen is judged by
// how far apart the two are, not by the sign of the difference (C6).
func TestCheckInferredHealthOutOfOrder(t *testing.T) {
	ch := NewChecker(bookinfo(t, "sample1.yaml"), CheckOptions{HealthMargin: 5 * time.Second})
	t0 := time.Date(2023, 5, 30, 7, 0, 0, 0, time.UTC)
	require.Equal(t, Consistent, ch.Check(parseLine(t, record(nil)), t0.Add(time.Minute)).Kind)
	fell := record(map[string]any{"fallback_path": cl("v3") + ":" + cl("v2"), "fallback_result": "fallback successful",
		"fallback_final_cluster_name": cl("v2"), "upstream_cluster": cl("v2")})
	require.Equal(t, Consistent, ch.Check(parseLine(t, fell), t0).Kind, "a minute before v3 served, it may well have been down")
}

// TestCheckGivenHealth: C6 with a given timeline; contradictions far from a change are violations.
func TestCheckGivenHealth(t *testing.T) {
	t0 := time.Date(2023, 5, 30, 7, 0, 0, 0, time.UTC)
	tl := NewTimeline()
	tl.Add(cl("v3"), t0, t0.Add(time.Minute), true)
	tl.Add(cl("v3"), t0.Add(time.Minute), t0.Add(2*time.Minute), false)
	ch := NewChecker(bookinfo(t, "sample1.yaml"), CheckOptions{Health: tl})
	fell := parseLine(t, record(map[string]any{"fallback_path": cl("v3") + ":" + cl("v2"), "fallback_result": "fallback successful",
		"fallback_final_cluster_name": cl("v2"), "upstream_cluster": cl("v2")}))
	v := ch.Check(fell, t0.Add(10*time.Second))
	require.Equal(t, Inconsistent, v.Kind)
	require.Equal(t, "C6", v.Rule)
	require.Equal(t, Warning, ch.Check(fell, t0.Add(58*time.Second)).Kind)
	require.Equal(t, Consistent, ch.Check(fell, t0.Add(90*time.Second)).Kind)
	served := parseLine(t, record(nil))
	require.Equal(t, Inconsistent, ch.Check(served, t0.Add(90*time.Second)).Kind, "v3 served while down")
	require.Equal(t, Consistent, ch.Check(served, t0.Add(3*time.Minute)).Kind, "outside the timeline: unknown health")
	require.Len(t, tl.Intervals()[cl("v3")], 2, "a given timeline is not changed by Check")
}

func TestVerdictKindString(t *testing.T) {
	require.Equal(t, []string{"consistent", "inconsistent", "warning", "unknown"},
		[]string{Consistent.String(), Inconsistent.String(), Warning.String(), Unknown.String()})
}
