package corpus

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestDeterministic(t *testing.T) {
	for _, o := range []Options{{}, {Rate: 20}, {Format: CRI, CRISplit: 300}, {Format: Docker}, {Scenario: Bookinfo}} {
		var a, b bytes.Buffer
		require.NoError(t, Generate(&a, 500, o))
		require.NoError(t, Generate(&b, 500, o))
		require.Equal(t, a.Bytes(), b.Bytes())
		o.Seed = 99
		var c bytes.Buffer
		require.NoError(t, Generate(&c, 500, o))
		require.NotEqual(t, a.Bytes(), c.Bytes(), "the seed changes the output")
	}
}

// mixedN is the size of the Mixed corpus the shape tests read: 100k records, about 8 minutes of
// log time at the default rate, several outages of every protected cluster.
const mixedN = 100000

// mixedRecord is what the Mixed tests read from one record.
type mixedRecord struct {
	Start    string `json:"start_time"`
	Code     any    `json:"response_code"`
	Flags    string `json:"response_flags"`
	Upstream string `json:"upstream_cluster"`
	Path     string `json:"fallback_path"`
	Final    string `json:"fallback_final_cluster_name"`
	Result   string `json:"fallback_result"`

	line  []byte
	start time.Time
}

var mixedOnce = sync.OnceValues(func() ([]mixedRecord, error) {
	lines := Lines(mixedN, Options{Seed: 1})
	recs := make([]mixedRecord, len(lines))
	for i, l := range lines {
		r := &recs[i]
		if err := json.Unmarshal(l, r); err != nil {
			return nil, fmt.Errorf("line %d %q: %w", i+1, l, err)
		}
		t, err := time.Parse("2006-01-02T15:04:05.000Z", r.Start)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", i+1, err)
		}
		r.line, r.start = l, t
	}
	return recs, nil
})

func mixedRecords(t *testing.T) []mixedRecord {
	t.Helper()
	recs, err := mixedOnce()
	require.NoError(t, err)
	require.Len(t, recs, mixedN)
	return recs
}

// clusterNames maps every Mixed cluster name to its service index and subset.
func clusterNames() map[string]clusterKey {
	m := map[string]clusterKey{}
	for i := range services {
		for _, sub := range services[i].subsets {
			m[cluster(&services[i], sub)] = clusterKey{i, sub}
		}
	}
	return m
}

// TestMixedShape holds the Mixed corpus to the shape the benchmarks are specified with: 80% no
// fallback, 15% successful (R15), 5% failed (R16), about 1% escapes, a third typed numbers.
func TestMixedShape(t *testing.T) {
	recs := mixedRecords(t)
	names := clusterNames()
	var size, success, failed, bareUH, appErrors, escaped, typed int
	flags := map[string]int{}
	for _, r := range recs {
		size += len(r.line) + 1
		switch r.Result {
		case "fallback successful":
			success++
		case "fallback cluster is unhealthy":
			failed++
			require.Equal(t, "503", toString(r.Code))
			require.Equal(t, "UH", r.Flags)
		case "-":
			flags[r.Flags]++
			if r.Flags == "UH" { // R14: only a cluster without a configured fallback fails alone
				bareUH++
				k, ok := names[r.Upstream]
				require.True(t, ok, "%s", r.line)
				require.Empty(t, services[k.svc].fallback[k.subset], "503 UH without fallback from a protected cluster: %s", r.line)
				require.Equal(t, "503", toString(r.Code))
			} else if c := toString(r.Code); c >= "500" || c == "0" {
				appErrors++
			}
		default:
			t.Fatalf("unexpected fallback_result: %s", r.line)
		}
		if bytes.IndexByte(r.line, '\\') >= 0 {
			escaped++
		}
		if _, ok := r.Code.(float64); ok {
			typed++
		}
	}
	n := float64(mixedN)
	t.Logf("no fallback %.4f (503 UH %.4f, other errors %.4f), successful %.4f, failed %.4f",
		1-float64(success+failed)/n, float64(bareUH)/n, float64(appErrors)/n, float64(success)/n, float64(failed)/n)
	require.InDelta(t, 1050, size/mixedN, 100, "average line length")
	require.InDelta(t, 0.80, 1-float64(success+failed)/n, 0.012)
	require.InDelta(t, 0.15, float64(success)/n, 0.01)
	require.InDelta(t, 0.05, float64(failed)/n, 0.006)
	require.Less(t, float64(bareUH)/n, 0.02, "503 UH without fallback stays rare")
	require.InDelta(t, 0.045, float64(appErrors)/n, 0.01, "healthy clusters' own errors")
	for _, f := range []string{"UF,URX", "URX", "UT", "UC", "DC"} {
		require.Positive(t, flags[f], "records of healthy clusters with flags %s", f)
	}
	require.InDelta(t, 0.01, float64(escaped)/n, 0.005)
	require.InDelta(t, 0.33, float64(typed)/n, 0.05)
}

// TestMixedFollowsHealth checks every record against the clusters' health timeline at its
// start_time: primary healthy → served, no fallback metadata (R14); primary down without fallback
// → 503 UH (R14); primary down, target healthy → successful fallback to the target (R15); both
// down → 503 UH "fallback cluster is unhealthy", one hop (R16, R17).
func TestMixedFollowsHealth(t *testing.T) {
	recs := mixedRecords(t)
	names := clusterNames()
	h := newSchedule(1, time.Date(2023, 5, 30, 7, 0, 0, 0, time.UTC))
	seen := map[string]int{}
	for _, r := range recs {
		a := r.Upstream
		if r.Path != "-" {
			a = strings.Split(r.Path, ":")[0]
		}
		k, ok := names[a]
		require.True(t, ok, "%s", r.line)
		sv := &services[k.svc]
		fb := sv.fallback[k.subset]
		var want string
		switch {
		case !h.down(k.svc, k.subset, r.start):
			want = "served"
		case fb == "":
			want = "unhealthy"
		case !h.down(k.svc, fb, r.start):
			want = "fallback successful"
		default:
			want = "fallback cluster is unhealthy"
		}
		seen[want]++
		switch want {
		case "served":
			require.Equal(t, "-", r.Path, "%s", r.line)
			require.Equal(t, "-", r.Result, "%s", r.line)
			require.NotContains(t, r.Flags, "UH", "%s", r.line)
		case "unhealthy":
			require.Equal(t, "-", r.Result, "%s", r.line)
			require.Equal(t, "UH", r.Flags, "%s", r.line)
		case "fallback successful":
			b := cluster(sv, fb)
			require.Equal(t, want, r.Result, "%s", r.line)
			require.Equal(t, a+":"+b, r.Path, "%s", r.line)
			require.Equal(t, b, r.Final, "%s", r.line)
			require.Equal(t, b, r.Upstream, "%s", r.line)
		default:
			require.Equal(t, want, r.Result, "%s", r.line)
			require.Equal(t, a+":"+cluster(sv, fb), r.Path, "%s", r.line)
			require.Equal(t, "-", r.Final, "%s", r.line)
			require.Equal(t, a, r.Upstream, "%s", r.line)
		}
	}
	require.Len(t, seen, 4, "every outcome occurs: %v", seen)
}

// TestMixedHealthIsStable checks what the routing checker infers (C6): within any 1-second window
// the records never show a cluster both healthy (serving, as primary or fallback target) and
// unhealthy (falling back, or 503 UH), except across one of its outage boundaries.
func TestMixedHealthIsStable(t *testing.T) {
	recs := mixedRecords(t)
	type evidence struct {
		at      time.Time
		healthy bool
	}
	ev := map[string][]evidence{}
	for _, r := range recs {
		switch {
		case r.Result == "fallback successful":
			p := strings.Split(r.Path, ":")
			ev[p[0]] = append(ev[p[0]], evidence{r.start, false})
			ev[r.Final] = append(ev[r.Final], evidence{r.start, true})
		case r.Result == "fallback cluster is unhealthy":
			for _, c := range strings.Split(r.Path, ":") {
				ev[c] = append(ev[c], evidence{r.start, false})
			}
		case r.Flags == "UH":
			ev[r.Upstream] = append(ev[r.Upstream], evidence{r.start, false})
		case toString(r.Code) != "0":
			ev[r.Upstream] = append(ev[r.Upstream], evidence{r.start, true})
		}
	}
	h := newSchedule(1, time.Date(2023, 5, 30, 7, 0, 0, 0, time.UTC))
	h.keep = true
	end := recs[len(recs)-1].start.Add(time.Minute)
	h.advance(end)
	h.accumulate(end)
	boundaries := map[string][]time.Time{}
	for _, o := range append(h.history, h.active...) {
		for _, sub := range o.down {
			if sub != "" {
				c := cluster(&services[o.svc], sub)
				boundaries[c] = append(boundaries[c], o.start, o.end)
			}
		}
	}
	const margin = time.Second
	nearBoundary := func(c string, from, to time.Time) bool {
		for _, b := range boundaries[c] {
			if !b.Before(from.Add(-margin)) && !b.After(to.Add(margin)) {
				return true
			}
		}
		return false
	}
	flips, close := 0, 0
	for c, es := range ev {
		for i := 1; i < len(es); i++ {
			prev, cur := es[i-1], es[i]
			if prev.healthy == cur.healthy {
				continue
			}
			flips++
			require.True(t, nearBoundary(c, prev.at, cur.at), "%s seen %v at %s and %v at %s, no outage boundary between",
				c, prev.healthy, prev.at.Format(time.RFC3339Nano), cur.healthy, cur.at.Format(time.RFC3339Nano))
			if cur.at.Sub(prev.at) < time.Second {
				close++
			}
		}
	}
	t.Logf("%d clusters, %d health changes seen, %d within a second, %d outages", len(ev), flips, close, len(h.history))
	require.Positive(t, flips, "the corpus has outages")
	require.Less(t, flips, mixedN/100, "health changes stay rare")
	for c, b := range boundaries {
		require.Less(t, len(b), mixedN/200, "%s: outages of tens of seconds to minutes, not flapping", c)
	}
}

// TestScheduleDowntime holds every cluster healthy most of the time and the outage lengths to
// tens of seconds to minutes, over an hour and a half of log time.
func TestScheduleDowntime(t *testing.T) {
	for _, seed := range []uint64{0, 1, 7} {
		start := time.Date(2023, 5, 30, 7, 0, 0, 0, time.UTC)
		h := newSchedule(seed, start)
		h.keep = true
		const span = 5000 * time.Second
		h.advance(start.Add(span))
		h.accumulate(start.Add(span))
		worst := 0.0
		for k, secs := range h.downSecs {
			worst = max(worst, secs/span.Seconds())
			require.Less(t, secs/span.Seconds(), 0.45, "seed %d: %s %s is healthy most of the time", seed, services[k.svc].name, k.subset)
		}
		for _, o := range h.history {
			d := o.end.Sub(o.start)
			require.GreaterOrEqual(t, d, 5*time.Second)
			require.LessOrEqual(t, d, 3*time.Minute)
		}
		t.Logf("seed %d: %d outages, longest downtime share %.3f, expected shares %.4f successful, %.4f failed, %.4f 503 UH",
			seed, len(h.history), worst, h.integral[outSuccess]/span.Seconds(), h.integral[outFailed]/span.Seconds(), h.integral[outBare]/span.Seconds())
		// the planner's expected shares, as records would see them at any rate
		require.InDelta(t, targetSuccess, h.integral[outSuccess]/span.Seconds(), 0.005, "seed %d", seed)
		require.InDelta(t, targetFailed, h.integral[outFailed]/span.Seconds(), 0.003, "seed %d", seed)
	}
}

func toString(v any) string {
	b, _ := json.Marshal(v)
	return strings.Trim(string(b), `"`)
}

func TestBookinfoHoldsTheGuideRecords(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, Generate(&buf, 200, Options{Scenario: Bookinfo}))
	require.Contains(t, buf.String(), "\n"+SeedSuccess+"\n")
	require.Contains(t, buf.String(), "\n"+SeedFailed+"\n")
	require.NotContains(t, buf.String(), "|v1|reviews.default.svc.cluster.local:outbound", "v1 never falls back")
}
