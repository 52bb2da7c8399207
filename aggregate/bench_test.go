package aggregate

import (
	"testing"

	"github.com/fallbackwatch/fallbackwatch/parse"
)

// Compare runs with:
//
//	go test -run '^$' -bench Observe -count 10 ./aggregate > new.txt && benchstat old.txt new.txt

// benchRecords is the traffic mix of the parse corpus: mostly no fallback, some successful
// fallbacks, a few failed ones.
func benchRecords(b *testing.B) []*parse.Record {
	var recs []*parse.Record
	for _, n := range []struct {
		name  string
		times int
	}{{"none", 16}, {"success", 3}, {"failed", 1}} {
		r := loadRecord(b, n.name)
		for range n.times {
			recs = append(recs, r)
		}
	}
	return recs
}

func BenchmarkObserve(b *testing.B) {
	c := newCounters(b, Config{})
	recs := benchRecords(b)
	route := []byte("default/reviews-route#0")
	for _, r := range recs { // warm: every series exists
		c.Observe(r, route, productpage)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		c.Observe(recs[i%len(recs)], route, productpage)
		i++
	}
}

func BenchmarkObserveParallel(b *testing.B) {
	c := newCounters(b, Config{})
	recs := benchRecords(b)
	route := []byte("default/reviews-route#0")
	for _, r := range recs {
		c.Observe(r, route, productpage)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			c.Observe(recs[i%len(recs)], route, productpage)
			i++
		}
	})
}

func BenchmarkObserveVerdict(b *testing.B) {
	c := newCounters(b, Config{})
	c.ObserveVerdict("consistent", "none")
	b.ReportAllocs()
	for b.Loop() {
		c.ObserveVerdict("consistent", "none")
	}
}

func BenchmarkSnapshot(b *testing.B) {
	c := newCounters(b, Config{})
	rec := loadRecord(b, "none")
	route := make([]byte, 0, 16)
	for i := range 1000 {
		route = append(route[:0], "route-"...)
		route = append(route, itoa(uint64(i))...)
		c.Observe(rec, route, productpage)
	}
	b.ReportAllocs()
	for b.Loop() {
		c.Snapshot()
	}
}

// overflowing returns Counters whose --metrics.max-series (10) is reached, and records each for
// a new service.
func overflowing(b *testing.B) (*Counters, []*parse.Record) {
	c := newCounters(b, Config{MaxSeries: 10})
	recs := overflowRecords(b, 4096)
	for _, r := range recs[:10] {
		c.Observe(r, nil, productpage)
	}
	return c, recs[10:]
}

// BenchmarkObserveOverflow counts records each for a new service once --metrics.max-series is
// reached: they fold into the overflow series, with no allocation and no registry lock.
func BenchmarkObserveOverflow(b *testing.B) {
	c, recs := overflowing(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		c.Observe(recs[i%len(recs)], nil, productpage)
		i++
	}
}

func BenchmarkObserveOverflowParallel(b *testing.B) {
	c, recs := overflowing(b)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			c.Observe(recs[i%len(recs)], nil, productpage)
			i++
		}
	})
}
