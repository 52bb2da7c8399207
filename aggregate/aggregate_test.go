package aggregate

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/fallbackwatch/fallbackwatch/parse"
)

const (
	reviews = "reviews.default.svc.cluster.local"
	backup  = "reviews-backup.backup.svc.cluster.local"
	ratings = "ratings.default.svc.cluster.local"
)

var productpage = Source{Namespace: "default", Workload: "productpage-v1"}

// loadRecord parses testdata/records/<name>.json into a Record that owns its bytes.
func loadRecord(t testing.TB, name string) *parse.Record {
	t.Helper()
	line, err := os.ReadFile(filepath.Join("testdata", "records", name+".json"))
	require.NoError(t, err)
	var p parse.Parser
	var r parse.Record
	require.NoError(t, p.Parse(line, &r), "record %s", name)
	// The parser's scratch is not reused: this Parser is dropped, so r's bytes stay valid.
	return &r
}

func newCounters(t testing.TB, cfg Config) *Counters {
	t.Helper()
	c, err := NewCounters(cfg)
	require.NoError(t, err)
	return c
}

func TestObserveLabels(t *testing.T) {
	cases := []struct {
		record    string
		route     []byte
		want      RequestLabels
		duration  *DurationSeries // nil: no duration observed
		unhealthy bool            // response_flags contain UH
	}{
		{
			// R15: v3 fell back to v2, v2 served.
			record: "success",
			want: RequestLabels{DestinationService: reviews, PrimarySubset: "v3", FallbackService: reviews, FallbackSubset: "v2",
				FinalService: reviews, FinalSubset: "v2", Result: "success", CodeClass: "2xx"},
			duration: &DurationSeries{DestinationService: reviews, FinalSubset: "v2", Result: "success", Count: 1, SumSeconds: 0.010,
				Buckets: []uint64{0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}},
		},
		{
			// R16: v3 and v2 unhealthy, nothing served.
			record: "failed",
			want: RequestLabels{DestinationService: reviews, PrimarySubset: "v3", FallbackService: reviews, FallbackSubset: "v2",
				Result: "failed", CodeClass: "5xx"},
			duration: &DurationSeries{DestinationService: reviews, Result: "failed", Count: 1,
				Buckets: []uint64{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}},
			unhealthy: true,
		},
		{
			// R14: ratings v1 has no healthy endpoint and no fallback: 503 UH, nothing tried and
			// nobody served the request.
			record: "unprotected",
			want: RequestLabels{DestinationService: ratings, PrimarySubset: "v1",
				Result: "none", CodeClass: "5xx"},
			duration: &DurationSeries{DestinationService: ratings, Result: "none", Count: 1,
				Buckets: []uint64{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}},
			unhealthy: true,
		},
		{
			// The application answered 500: a 5xx without UH is no unhealthy upstream.
			record: "app_error",
			want: RequestLabels{DestinationService: ratings, PrimarySubset: "v1", FinalService: ratings, FinalSubset: "v1",
				Result: "none", CodeClass: "5xx"},
			duration: &DurationSeries{DestinationService: ratings, FinalSubset: "v1", Result: "none", Count: 1, SumSeconds: 0.003,
				Buckets: []uint64{0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}},
		},
		{
			// R14: no fallback metadata, the primary served.
			record: "none",
			want: RequestLabels{DestinationService: reviews, PrimarySubset: "v3", FinalService: reviews, FinalSubset: "v3",
				Result: "none", CodeClass: "2xx", Route: "reviews-v3"},
			duration: &DurationSeries{DestinationService: reviews, FinalSubset: "v3", Result: "none", Count: 1, SumSeconds: 0.007,
				Buckets: []uint64{0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}},
		},
		{
			// R23: an unknown result string; the final cluster is upstream_cluster.
			record: "unknown",
			want: RequestLabels{DestinationService: reviews, PrimarySubset: "v3", FallbackService: reviews, FallbackSubset: "v2",
				FinalService: reviews, FinalSubset: "v3", Result: "unknown", CodeClass: "2xx"},
			duration: &DurationSeries{DestinationService: reviews, FinalSubset: "v3", Result: "unknown", Count: 1, SumSeconds: 0.012,
				Buckets: []uint64{0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}},
		},
		{
			// R3: the fallback target is another host.
			record: "cross_host",
			want: RequestLabels{DestinationService: reviews, PrimarySubset: "v3", FallbackService: backup, FallbackSubset: "v1",
				FinalService: backup, FinalSubset: "v1", Result: "success", CodeClass: "2xx", Route: "reviews-route"},
			duration: &DurationSeries{DestinationService: reviews, FinalSubset: "v1", Result: "success", Count: 1, SumSeconds: 2.6,
				Buckets: []uint64{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1}},
		},
		{
			record: "blackhole",
			want: RequestLabels{DestinationService: "BlackHoleCluster", FinalService: "BlackHoleCluster",
				Result: "none", CodeClass: "5xx", Route: "block_all"},
			duration: &DurationSeries{DestinationService: "BlackHoleCluster", Result: "none", Count: 1,
				Buckets: []uint64{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}},
		},
		{
			record: "passthrough",
			want: RequestLabels{DestinationService: "PassthroughCluster", FinalService: "PassthroughCluster",
				Result: "none", CodeClass: "3xx", Route: "allow_any"},
			duration: &DurationSeries{DestinationService: "PassthroughCluster", Result: "none", Count: 1, SumSeconds: 0.045,
				Buckets: []uint64{0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1}},
		},
		{
			record: "inbound",
			want: RequestLabels{DestinationService: "inbound", FinalService: "inbound",
				Result: "none", CodeClass: "2xx", Route: "default"},
			duration: &DurationSeries{DestinationService: "inbound", Result: "none", Count: 1, SumSeconds: 0.003,
				Buckets: []uint64{0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}},
		},
		{
			// R10: no route, no cluster: the __none__ destination, never a service named "".
			record: "no_route",
			want:   RequestLabels{DestinationService: NoneService, Result: "none", CodeClass: "4xx"},
			duration: &DurationSeries{DestinationService: NoneService, Result: "none", Count: 1,
				Buckets: []uint64{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}},
		},
		{
			// Downstream disconnected before a response: code 0; the duration passes every bound.
			record: "no_response",
			want: RequestLabels{DestinationService: reviews, PrimarySubset: "v2", FinalService: reviews, FinalSubset: "v2",
				Result: "none", CodeClass: "0xx"},
			duration: &DurationSeries{DestinationService: reviews, FinalSubset: "v2", Result: "none", Count: 1, SumSeconds: 31,
				Buckets: []uint64{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
		},
		{
			// A missing duration is counted in requests_total and nowhere in the histogram.
			record: "no_duration",
			want: RequestLabels{DestinationService: "ratings.default.svc.cluster.local", FinalService: "ratings.default.svc.cluster.local",
				Result: "none", CodeClass: "2xx"},
		},
		{
			// The route the routing configuration matched replaces route_name.
			record: "none",
			route:  []byte("default/reviews-route#0"),
			want: RequestLabels{DestinationService: reviews, PrimarySubset: "v3", FinalService: reviews, FinalSubset: "v3",
				Result: "none", CodeClass: "2xx", Route: "default/reviews-route#0"},
			duration: &DurationSeries{DestinationService: reviews, FinalSubset: "v3", Result: "none", Count: 1, SumSeconds: 0.007,
				Buckets: []uint64{0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}},
		},
		{
			record: "none",
			route:  []byte("-"),
			want: RequestLabels{DestinationService: reviews, PrimarySubset: "v3", FinalService: reviews, FinalSubset: "v3",
				Result: "none", CodeClass: "2xx"},
			duration: &DurationSeries{DestinationService: reviews, FinalSubset: "v3", Result: "none", Count: 1, SumSeconds: 0.007,
				Buckets: []uint64{0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}},
		},
	}
	for _, tc := range cases {
		name := tc.record
		if tc.route != nil {
			name += "/route=" + string(tc.route)
		}
		t.Run(name, func(t *testing.T) {
			c := newCounters(t, Config{})
			rec := loadRecord(t, tc.record)
			c.Observe(rec, tc.route, productpage)
			c.Observe(rec, tc.route, Source{})
			snap := c.Snapshot()
			want := tc.want
			want.SourceNamespace, want.SourceWorkload = "default", "productpage-v1"
			anon := tc.want
			require.Equal(t, []RequestSeries{{RequestLabels: anon, Requests: 1}, {RequestLabels: want, Requests: 1}}, snap.Requests)
			if tc.duration == nil {
				require.Empty(t, snap.Durations)
			} else {
				d := *tc.duration
				d.Count *= 2
				d.SumSeconds *= 2
				d.Buckets = append([]uint64(nil), d.Buckets...)
				for i := range d.Buckets {
					d.Buckets[i] *= 2
				}
				require.Len(t, snap.Durations, 1)
				require.InDelta(t, d.SumSeconds, snap.Durations[0].SumSeconds, 1e-9)
				d.SumSeconds = snap.Durations[0].SumSeconds
				require.Equal(t, []DurationSeries{d}, snap.Durations)
			}
			// One series whatever the source, at zero when the record has no UH.
			var uh uint64
			if tc.unhealthy {
				uh = 2
			}
			require.Equal(t, []UnhealthySeries{{DestinationService: tc.want.DestinationService, PrimarySubset: tc.want.PrimarySubset,
				Route: tc.want.Route, Result: tc.want.Result, Count: uh}}, snap.Unhealthy)
			require.Equal(t, map[string]uint64{MetricRequests: 0, MetricDuration: 0, MetricDecisions: 0, MetricUnhealthy: 0}, snap.Overflow)
		})
	}
}

// TestSeedScenario2 counts the seed's second scenario with v3 and v2 down (R17): v2's share
// falls back to v1, v3's share fails.
func TestSeedScenario2(t *testing.T) {
	c := newCounters(t, Config{})
	failed := loadRecord(t, "failed")
	for range 50 {
		c.Observe(failed, nil, productpage)
	}
	var p parse.Parser
	var ok parse.Record
	line := `{"duration":"4","fallback_path":"outbound|9080|v2|` + reviews + `:outbound|9080|v1|` + reviews +
		`","fallback_final_cluster_name":"outbound|9080|v1|` + reviews + `","fallback_result":"fallback successful","response_code":"200","upstream_cluster":"outbound|9080|v1|` + reviews + `"}`
	require.NoError(t, p.Parse([]byte(line), &ok))
	for range 50 {
		c.Observe(&ok, nil, productpage)
	}
	snap := c.Snapshot()
	byResult := map[string]uint64{}
	for _, s := range snap.Requests {
		byResult[s.Result+" "+s.PrimarySubset+">"+s.FinalSubset] += s.Requests
	}
	require.Equal(t, map[string]uint64{"failed v3>": 50, "success v2>v1": 50}, byResult)
}

func TestOverflow(t *testing.T) {
	c := newCounters(t, Config{MaxSeries: 2})
	rec := loadRecord(t, "none")
	for i, route := range []string{"a", "b", "c", "d", "a", "c"} {
		c.Observe(rec, []byte(route), productpage)
		if i == 0 {
			c.ObserveVerdict("consistent", "none")
		}
	}
	c.ObserveVerdict("inconsistent", "C1")
	c.ObserveVerdict("inconsistent", "C3")
	c.ObserveVerdict("inconsistent", "C3")
	// A new destination after the duration metric is full folds its duration too.
	other := loadRecord(t, "blackhole")
	c.Observe(other, []byte("a"), productpage)
	third := loadRecord(t, "passthrough")
	c.Observe(third, []byte("a"), productpage)
	snap := c.Snapshot()

	var routes []string
	for _, s := range snap.Requests {
		routes = append(routes, s.Route+"="+itoa(s.Requests))
	}
	// c, d, c, and the blackhole and passthrough records on route a (another label set).
	require.Equal(t, []string{OverflowValue + "=5", "a=2", "b=1"}, routes)
	ov := snap.Requests[0]
	for _, v := range ov.values() {
		require.Equal(t, OverflowValue, v)
	}
	// Durations of the "c" and "d" records still count in their own duration series; the
	// blackhole series fits as the second; passthrough does not.
	var durs []string
	for _, d := range snap.Durations {
		durs = append(durs, d.DestinationService+"="+itoa(d.Count))
	}
	require.Equal(t, []string{"BlackHoleCluster=1", OverflowValue + "=1", reviews + "=6"}, durs)
	require.Equal(t, []DecisionSeries{
		{Verdict: OverflowValue, Rule: OverflowValue, Count: 2},
		{Verdict: "consistent", Rule: "none", Count: 1},
		{Verdict: "inconsistent", Rule: "C1", Count: 1},
	}, snap.Decisions)
	require.Equal(t, map[string]uint64{MetricRequests: 5, MetricDuration: 1, MetricDecisions: 2, MetricUnhealthy: 0}, snap.Overflow)
}

// TestUnhealthyOverflowAndLabels: fallbackwatch_upstream_unhealthy_total has its own series
// limit and overflow series, and its label values are repaired and capped like the others.
func TestUnhealthyOverflowAndLabels(t *testing.T) {
	c := newCounters(t, Config{MaxSeries: 1, MaxLabelLen: 16})
	failed, none := loadRecord(t, "failed"), loadRecord(t, "none")
	c.Observe(failed, []byte("r\xff"), productpage)
	c.Observe(failed, []byte("r\xfe"), productpage) // repairs to the same route label
	c.Observe(none, []byte("c"), productpage)       // another series, no UH: overflows with nothing to count
	c.Observe(failed, []byte("0123456789abcdefXYZ"), productpage)
	snap := c.Snapshot()
	o := OverflowValue
	require.Equal(t, []UnhealthySeries{
		{DestinationService: o, PrimarySubset: o, Route: o, Result: o, Count: 1},
		{DestinationService: "reviews.default.", PrimarySubset: "v3", Route: "r\uFFFD", Result: "failed", Count: 2},
	}, snap.Unhealthy)
	require.Equal(t, uint64(1), snap.Overflow[MetricUnhealthy])
	for _, u := range snap.Unhealthy {
		for _, v := range []string{u.DestinationService, u.PrimarySubset, u.Route, u.Result} {
			require.True(t, utf8.ValidString(v), "%q", v)
			require.LessOrEqual(t, len(v), 16, "%q", v)
		}
	}
}

// TestUnhealthyTTL: an idle upstream-unhealthy series expires with its request series and starts
// from zero when it comes back.
func TestUnhealthyTTL(t *testing.T) {
	clock := &fakeClock{t: time.Date(2023, 5, 30, 7, 0, 0, 0, time.UTC)}
	c := newCounters(t, Config{SeriesTTL: time.Hour, Now: clock.Now})
	failed := loadRecord(t, "failed")
	route := []byte("default/reviews-route#0")
	want := func(n uint64) []UnhealthySeries {
		return []UnhealthySeries{{DestinationService: reviews, PrimarySubset: "v3", Route: string(route), Result: "failed", Count: n}}
	}
	c.Observe(failed, route, productpage)
	c.Observe(failed, route, productpage)
	clock.Advance(40 * time.Minute)
	require.Equal(t, want(2), c.Snapshot().Unhealthy)
	clock.Advance(2 * time.Hour)
	c.Snapshot()
	clock.Advance(2 * time.Hour)
	require.Empty(t, c.Snapshot().Unhealthy)
	c.Observe(failed, route, productpage)
	require.Equal(t, want(1), c.Snapshot().Unhealthy)
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

func TestLabelValuesValidAndCapped(t *testing.T) {
	const max = 32
	long := strings.Repeat("é", 40) // 80 bytes; a cut at 32 would split no rune, at 33 one
	cases := []struct {
		name  string
		route []byte
		src   Source
		want  RequestLabels // only Route, SourceNamespace, SourceWorkload are checked
	}{
		{"invalid route bytes", []byte("r\xffx\xfe"), Source{}, RequestLabels{Route: "r\uFFFDx\uFFFD"}},
		{"invalid source", nil, Source{Namespace: "ns\xc3", Workload: "w\x80"}, RequestLabels{Route: "reviews-v3", SourceNamespace: "ns\uFFFD", SourceWorkload: "w\uFFFD"}},
		{"long valid route", []byte("x" + long), Source{}, RequestLabels{Route: "x" + strings.Repeat("é", 15)}},
		{"long source", nil, Source{Namespace: long, Workload: "a" + long}, RequestLabels{Route: "reviews-v3", SourceNamespace: strings.Repeat("é", 16), SourceWorkload: "a" + strings.Repeat("é", 15)}},
		{"long invalid route", []byte(strings.Repeat("\xff", 40)), Source{}, RequestLabels{Route: strings.Repeat("\uFFFD", 10)}},
		{"invalid cut mid-rune", []byte("\xff" + long), Source{}, RequestLabels{Route: "\uFFFD" + strings.Repeat("é", 14)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newCounters(t, Config{MaxLabelLen: max})
			rec := loadRecord(t, "none")
			rec.UpstreamCluster = []byte("outbound|9080|v\xff3|" + reviews)
			c.Observe(rec, tc.route, tc.src)
			snap := c.Snapshot()
			require.Len(t, snap.Requests, 1)
			got := snap.Requests[0]
			for _, v := range got.values() {
				require.True(t, utf8.ValidString(v), "%q", v)
				require.LessOrEqual(t, len(v), max, "%q", v)
			}
			require.Equal(t, "v\uFFFD3", got.PrimarySubset)
			require.Equal(t, tc.want.Route, got.Route)
			require.Equal(t, tc.want.SourceNamespace, got.SourceNamespace)
			require.Equal(t, tc.want.SourceWorkload, got.SourceWorkload)
			for _, d := range snap.Durations {
				require.True(t, utf8.ValidString(d.FinalSubset))
			}
		})
	}
}

// TestRepairedValuesShareASeries: two inputs that repair to the same label value are one series,
// so the collector never exports duplicates.
func TestRepairedValuesShareASeries(t *testing.T) {
	c := newCounters(t, Config{MaxLabelLen: 16})
	rec := loadRecord(t, "none")
	c.Observe(rec, []byte("route\xff"), productpage)
	c.Observe(rec, []byte("route\xfe"), productpage)
	c.Observe(rec, []byte("0123456789abcdefXYZ"), productpage)
	c.Observe(rec, []byte("0123456789abcdefUVW"), productpage)
	snap := c.Snapshot()
	require.Len(t, snap.Requests, 2)
	require.Equal(t, "0123456789abcdef", snap.Requests[0].Route)
	require.Equal(t, uint64(2), snap.Requests[0].Requests)
	require.Equal(t, "route\uFFFD", snap.Requests[1].Route)
	require.Equal(t, uint64(2), snap.Requests[1].Requests)
}

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		errs []string
	}{
		{"zero", Config{}, nil},
		{"negative", Config{MaxSeries: -1, MaxLabelLen: 3, SeriesTTL: -time.Second},
			[]string{"max series -1", "max label length 3", "series TTL -1s"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.errs == nil {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, e := range tc.errs {
				require.ErrorContains(t, err, e)
			}
			_, err = NewCounters(tc.cfg)
			require.Error(t, err)
		})
	}
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.t
}

func (f *fakeClock) Advance(d time.Duration) {
	f.mu.Lock()
	f.t = f.t.Add(d)
	f.mu.Unlock()
}

func TestSeriesTTL(t *testing.T) {
	clock := &fakeClock{t: time.Date(2023, 5, 30, 7, 0, 0, 0, time.UTC)}
	c := newCounters(t, Config{MaxSeries: 2, SeriesTTL: time.Hour, Now: clock.Now})
	rec := loadRecord(t, "none")
	c.Observe(rec, []byte("a"), productpage)
	c.Observe(rec, []byte("b"), productpage)
	c.Observe(rec, []byte("b"), productpage)
	require.Len(t, c.Snapshot().Requests, 2)

	clock.Advance(40 * time.Minute)
	c.Observe(rec, []byte("a"), productpage)
	require.Len(t, c.Snapshot().Requests, 2)

	clock.Advance(40 * time.Minute) // b idle for 80 minutes, a for 40
	snap := c.Snapshot()
	require.Len(t, snap.Requests, 1)
	require.Equal(t, "a", snap.Requests[0].Route)
	require.Equal(t, uint64(2), snap.Requests[0].Requests)
	// The histogram keeps b's records: it must not go down while it lives.
	require.Len(t, snap.Durations, 1)
	require.Equal(t, uint64(4), snap.Durations[0].Count)

	// b's slot is free again: a new series fits, b starts from zero.
	c.Observe(rec, []byte("c"), productpage)
	c.Observe(rec, []byte("b"), productpage)
	snap = c.Snapshot()
	var routes []string
	for _, s := range snap.Requests {
		routes = append(routes, s.Route+"="+itoa(s.Requests))
	}
	require.Equal(t, []string{OverflowValue + "=1", "a=2", "c=1"}, routes)

	// Everything idle: request series go, and with them the histogram.
	clock.Advance(2 * time.Hour)
	c.Snapshot()
	clock.Advance(2 * time.Hour)
	snap = c.Snapshot()
	require.Equal(t, []RequestSeries{{RequestLabels: overflowLabels(), Requests: 1}}, snap.Requests)
	require.Empty(t, snap.Durations)
}

func overflowLabels() RequestLabels {
	v := OverflowValue
	return RequestLabels{v, v, v, v, v, v, v, v, v, v, v}
}

func TestConcurrentObserve(t *testing.T) {
	clock := &fakeClock{t: time.Date(2023, 5, 30, 7, 0, 0, 0, time.UTC)}
	c := newCounters(t, Config{MaxSeries: 50, SeriesTTL: 24 * time.Hour, Now: clock.Now})
	names := []string{"success", "failed", "none", "unknown", "cross_host", "blackhole", "inbound", "no_duration"}
	recs := make([]*parse.Record, len(names))
	for i, n := range names {
		recs[i] = loadRecord(t, n)
	}
	const workers, perWorker = 8, 5000
	routes := make([][]byte, 100) // more routes than series: some records overflow
	for i := range routes {
		routes[i] = []byte("route-" + itoa(uint64(i)))
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var scrapes sync.WaitGroup
	scrapes.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				clock.Advance(time.Minute)
				c.Snapshot()
			}
		}
	})
	for w := range workers {
		wg.Go(func() {
			src := Source{Namespace: "default", Workload: "w" + itoa(uint64(w%2))}
			for i := range perWorker {
				c.Observe(recs[i%len(recs)], routes[(i/len(recs))%len(routes)], src)
				if i%10 == 0 {
					c.ObserveVerdict("consistent", "none")
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	scrapes.Wait()

	snap := c.Snapshot()
	var total uint64
	for _, s := range snap.Requests {
		total += s.Requests
	}
	require.Equal(t, uint64(workers*perWorker), total)
	require.LessOrEqual(t, len(snap.Requests), 51)
	require.NotZero(t, snap.Overflow[MetricRequests])
	var durations uint64
	for _, d := range snap.Durations {
		durations += d.Count
	}
	require.Equal(t, uint64(workers*perWorker*(len(recs)-1)/len(recs)), durations)
	require.Equal(t, []DecisionSeries{{Verdict: "consistent", Rule: "none", Count: workers * perWorker / 10}}, snap.Decisions)
	var unhealthy uint64 // only the "failed" record has UH
	for _, u := range snap.Unhealthy {
		unhealthy += u.Count
	}
	require.Equal(t, uint64(workers*perWorker/len(recs)), unhealthy)
}

// TestSameLabelsOneSeries: records that differ only in what the labels leave out (the port of a
// cluster) are one series.
func TestSameLabelsOneSeries(t *testing.T) {
	c := newCounters(t, Config{})
	rec := loadRecord(t, "none")
	c.Observe(rec, nil, productpage)
	rec.UpstreamCluster = []byte("outbound|9081|v3|" + reviews)
	c.Observe(rec, nil, productpage)
	snap := c.Snapshot()
	require.Len(t, snap.Requests, 1)
	require.Equal(t, uint64(2), snap.Requests[0].Requests)
	require.Len(t, snap.Durations, 1)
	require.Equal(t, uint64(2), snap.Durations[0].Count)
}

// TestManyRawKeys floods the counters with label sets far past the limit: the entry budget
// holds and every record is still counted exactly once.
func TestManyRawKeys(t *testing.T) {
	c := newCounters(t, Config{MaxSeries: 1})
	rec := loadRecord(t, "none")
	const n = 2000
	for i := range n {
		c.Observe(rec, []byte("route-"+itoa(uint64(i))), productpage)
	}
	c.Observe(rec, []byte("route-0"), productpage)
	require.LessOrEqual(t, c.nEntries.Load(), c.maxEntries)
	snap := c.Snapshot()
	require.Len(t, snap.Requests, 2)
	require.Equal(t, "route-0", snap.Requests[1].Route)
	require.Equal(t, uint64(2), snap.Requests[1].Requests)
	require.Equal(t, uint64(n-1), snap.Overflow[MetricRequests])
	require.Equal(t, []DurationSeries{{DestinationService: reviews, FinalSubset: "v3", Result: "none", Count: n + 1,
		SumSeconds: float64(7*(n+1)) / 1000, Buckets: []uint64{0, 0, 0, n + 1, n + 1, n + 1, n + 1, n + 1, n + 1, n + 1, n + 1, n + 1, n + 1, n + 1}}},
		snap.Durations)
}
