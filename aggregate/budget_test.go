package aggregate

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fallbackwatch/fallbackwatch/parse"
)

// countEntries walks every stripe and returns how many entries they hold.
func countEntries(c *Counters) int64 {
	var n int64
	for i := range c.stripes {
		s := &c.stripes[i]
		s.mu.Lock()
		for _, e := range s.entries {
			for ; e != nil; e = e.next {
				n++
			}
		}
		s.mu.Unlock()
	}
	return n
}

// TestEntryBudgetIndependentOfCores floods the counters from eight goroutines with distinct raw
// keys — new services past --metrics.max-series, and port variants of the series that exist —
// at GOMAXPROCS 1 and 16. The entries of all stripes together never pass one process-wide
// budget, the same whatever the number of stripes, and every record is still counted once.
func TestEntryBudgetIndependentOfCores(t *testing.T) {
	const maxSeries = 100
	budgets := map[int]int64{}
	for _, procs := range []int{1, 16} {
		t.Run(fmt.Sprintf("GOMAXPROCS=%d", procs), func(t *testing.T) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
			c := newCounters(t, Config{MaxSeries: maxSeries})
			require.Len(t, c.stripes, 4*procs, "stripes scale with GOMAXPROCS")
			budgets[procs] = c.maxEntries
			const workers, perWorker = 8, 3000
			var wg sync.WaitGroup
			for w := range workers {
				wg.Go(func() {
					rec := loadRecord(t, "none")
					for i := range perWorker {
						switch i % 3 {
						case 0: // a new service each time: past the series limit, overflow
							rec.UpstreamCluster = fmt.Appendf(rec.UpstreamCluster[:0], "outbound|9080|v1|svc%d-%d.default.svc.cluster.local", w, i)
						default: // one of 20 services on a new port: an existing series, a new raw key
							rec.UpstreamCluster = fmt.Appendf(rec.UpstreamCluster[:0], "outbound|%d|v1|s%d.default.svc.cluster.local", 1+w*perWorker+i, i%20)
						}
						c.Observe(rec, nil, productpage)
						if i%100 == 0 {
							require.LessOrEqual(t, c.nEntries.Load(), c.maxEntries)
						}
					}
				})
			}
			wg.Wait()
			require.Equal(t, c.nEntries.Load(), countEntries(c), "the entry count is the entries' number")
			require.LessOrEqual(t, countEntries(c), c.maxEntries, "entries over all stripes")
			snap := c.Snapshot()
			var total uint64
			for _, s := range snap.Requests {
				total += s.Requests
			}
			require.Equal(t, uint64(workers*perWorker), total)
			require.LessOrEqual(t, len(snap.Requests), maxSeries+1)
			for i := range 20 {
				require.True(t, strings.Contains(fmt.Sprint(snap.Requests), fmt.Sprintf("s%d.default.svc.cluster.local", i)),
					"port variants of s%d are counted in its series", i)
			}
		})
	}
	require.Equal(t, budgets[1], budgets[16], "the entry budget does not grow with cores")
	require.Equal(t, int64(entriesPerSeries*maxSeries+64), budgets[1])
}

// overflowRecords returns n copies of the "none" record, each for a different service.
func overflowRecords(t testing.TB, n int) []*parse.Record {
	t.Helper()
	line, err := os.ReadFile(filepath.Join("testdata", "records", "none.json"))
	require.NoError(t, err)
	recs := make([]*parse.Record, n)
	for i := range recs {
		l := strings.Replace(string(line), "|reviews.default.svc.cluster.local", fmt.Sprintf("|svc%d.default.svc.cluster.local", i), 1)
		var p parse.Parser
		recs[i] = new(parse.Record)
		require.NoError(t, p.Parse([]byte(l), recs[i]))
	}
	return recs
}

// TestOverflowAllocatesNothing: once --metrics.max-series is reached, a record of a new label set
// is counted in the overflow series without allocating, and so is a record of an existing series
// once the entry budget is spent.
func TestOverflowAllocatesNothing(t *testing.T) {
	c := newCounters(t, Config{MaxSeries: 10})
	recs := overflowRecords(t, 2100)
	for _, r := range recs[:10] {
		c.Observe(r, nil, productpage)
	}
	require.True(t, c.reqFull.Load())
	i := 10
	allocs := testing.AllocsPerRun(1000, func() {
		c.Observe(recs[i], nil, productpage)
		i++
	})
	require.Zero(t, allocs, "allocations per overflowed record")
	require.Zero(t, c.nEntries.Load()-10, "overflowed records take no entry")
	// Label values that are not valid UTF-8 are repaired without allocating too.
	routes := make([][]byte, 1100)
	for r := range routes {
		routes[r] = []byte(fmt.Sprintf("route\xff%d", r))
	}
	allocs = testing.AllocsPerRun(1000, func() {
		c.Observe(recs[i], routes[i-1010], productpage)
		i++
	})
	require.Zero(t, allocs, "allocations per overflowed record with invalid UTF-8")

	// Port variants of one existing series, far more than the budget: past it, no allocation.
	rec := loadRecord(t, "none")
	ports := make([][]byte, c.maxEntries+200)
	for p := range ports {
		ports[p] = []byte(fmt.Sprintf("outbound|%d|v3|%s", 10000+p, reviews))
	}
	c2 := newCounters(t, Config{MaxSeries: 10})
	for _, p := range ports[:c2.maxEntries] {
		rec.UpstreamCluster = p
		c2.Observe(rec, nil, productpage)
	}
	require.Equal(t, c2.maxEntries, c2.nEntries.Load())
	j := int(c2.maxEntries)
	allocs = testing.AllocsPerRun(100, func() {
		rec.UpstreamCluster = ports[j]
		c2.Observe(rec, nil, productpage)
		j++
	})
	require.Zero(t, allocs, "allocations per record past the entry budget")
	snap := c2.Snapshot()
	require.Len(t, snap.Requests, 1)
	require.Equal(t, uint64(j), snap.Requests[0].Requests, "every port variant counted in the one series")
}

// TestLabelViewsMatchLabels: the label values used to look series up without allocating are the
// ones the series are created with, for every fixture record and for values over the length cap.
func TestLabelViewsMatchLabels(t *testing.T) {
	entries, err := os.ReadDir(filepath.Join("testdata", "records"))
	require.NoError(t, err)
	const max = 20
	for _, e := range entries {
		name := strings.TrimSuffix(e.Name(), ".json")
		rec := loadRecord(t, name)
		for _, src := range []Source{productpage, {Namespace: strings.Repeat("n", 40), Workload: strings.Repeat("é", 15)}} {
			for _, route := range [][]byte{rec.RouteName, []byte(strings.Repeat("r", 50))} {
				k := rawKey{
					b:  [4][]byte{cutRaw(rec.PrimaryCluster(), 2*max+32), cutRaw(rec.FallbackCluster(), 2*max+32), cutRaw(rec.FinalCluster(), 2*max+32), cutRaw(route, max)},
					ns: cutRawString(src.Namespace, max), wl: cutRawString(src.Workload, max),
					result: resultIndex(rec.Result), code: codeClass(rec),
				}
				lv, ok := k.labelViews(max, make([]byte, 0, 9*max))
				require.True(t, ok, name)
				require.Equal(t, k.labels(max), lv, name)
			}
		}
	}
	// Invalid UTF-8 is repaired as LabelValue repairs it, in the scratch room while it lasts.
	k := rawKey{b: [4][]byte{[]byte("outbound|80|v\xff1|bad\xfe.ns.svc.cluster.local"), nil, nil, []byte("bad\xffroute")},
		ns: "n\xffs", wl: strings.Repeat("\xff", 30)}
	lv, ok := k.labelViews(max, make([]byte, 0, 9*max))
	require.True(t, ok)
	require.Equal(t, k.labels(max), lv)
	_, ok = k.labelViews(max, make([]byte, 0, max))
	require.False(t, ok, "no room for a second repair")
}

// TestScrapeDuringExpiry scrapes from three goroutines while records are counted and expiry
// moves idle entries' counts into their live series' retired counts. Every scraper sees each
// counter go only up, and never above the number of records counted so far.
func TestScrapeDuringExpiry(t *testing.T) {
	clock := &fakeClock{t: time.Date(2023, 5, 30, 7, 0, 0, 0, time.UTC)}
	c := newCounters(t, Config{SeriesTTL: 3 * time.Second, Now: clock.Now})
	var observed atomic.Uint64 // records whose Observe has started
	stop := make(chan struct{})
	var feed sync.WaitGroup
	feed.Go(func() {
		rec := loadRecord(t, "none")
		ports := make([][]byte, 8)
		for p := range ports {
			ports[p] = []byte(fmt.Sprintf("outbound|%d|v3|%s", 9080+p, reviews))
		}
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			// One series through eight raw keys in turn: each key's entry idles and expires
			// while the series, touched by the others, lives on.
			rec.UpstreamCluster = ports[(i/20)%len(ports)]
			observed.Add(1)
			c.Observe(rec, nil, productpage)
			if i%10 == 0 {
				clock.Advance(time.Second)
			}
		}
	})
	for observed.Load() < 1000 {
		runtime.Gosched()
	}
	var scrapers sync.WaitGroup
	errs := make(chan error, 3)
	for range 3 {
		scrapers.Go(func() {
			var last, lastHist uint64
			for range 300 {
				snap := c.Snapshot()
				limit := observed.Load()
				var n, h uint64
				for _, s := range snap.Requests {
					n += s.Requests
				}
				for _, d := range snap.Durations {
					h += d.Count
				}
				switch {
				case n < last || h < lastHist:
					errs <- fmt.Errorf("counter went down: requests %d after %d, durations %d after %d", n, last, h, lastHist)
					return
				case n > limit || h > limit:
					errs <- fmt.Errorf("counted %d requests and %d durations of %d records", n, h, limit)
					return
				}
				last, lastHist = n, h
			}
		})
	}
	scrapers.Wait()
	close(stop)
	feed.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	snap := c.Snapshot()
	require.Len(t, snap.Requests, 1, "the series lived throughout")
	require.Equal(t, observed.Load(), snap.Requests[0].Requests)
}
