package routing

import (
	"testing"
	"time"

	"github.com/fallbackwatch/fallbackwatch/parse"
)

// BenchmarkCheck measures Checker.Check on the seed's records against sample 2, with the inferred
// health timeline on. Consistent records must not allocate.
//
//	go test ./routing -run '^$' -bench Check -benchmem -count 10 > new.txt && benchstat old.txt new.txt
func BenchmarkCheck(b *testing.B) {
	c := bookinfo(b, "sample2.yaml")
	lines := map[string][]byte{
		"none":    record(map[string]any{"upstream_cluster": cl("v2")}),
		"success": readLine(b, "../testdata/logs/seed-success.json"),
		"failed":  readLine(b, "../testdata/logs/seed-failed.json"),
	}
	for _, name := range []string{"none", "success", "failed"} {
		b.Run(name, func(b *testing.B) {
			rec := parseLine(b, lines[name])
			ch := NewChecker(c, CheckOptions{})
			at := time.Date(2023, 5, 30, 7, 0, 0, 0, time.UTC)
			if v := ch.Check(rec, at); v.Kind != Consistent {
				b.Fatalf("%s: %v %s", name, v.Kind, v.Message)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				at = at.Add(time.Millisecond)
				if v := ch.Check(rec, at); v.Kind != Consistent {
					b.Fatal(v.Message)
				}
			}
		})
	}
}

func TestCheckDoesNotAllocate(t *testing.T) {
	c := bookinfo(t, "sample2.yaml")
	ch := NewChecker(c, CheckOptions{})
	for _, rec := range []*parse.Record{
		parseLine(t, readLine(t, "../testdata/logs/seed-success.json")),
		parseLine(t, readLine(t, "../testdata/logs/seed-failed.json")),
		parseLine(t, record(map[string]any{"upstream_cluster": cl("v2")})),
		// A host without a VirtualService: Unknown, and no cost either.
		parseLine(t, record(map[string]any{"authority": "details:9080", "upstream_cluster": "outbound|9080||details.default.svc.cluster.local"})),
	} {
		at := time.Date(2023, 5, 30, 7, 0, 0, 0, time.UTC)
		ch.Check(rec, at)
		allocs := testing.AllocsPerRun(100, func() {
			at = at.Add(time.Millisecond)
			ch.Check(rec, at)
		})
		if allocs != 0 {
			t.Fatalf("Check allocates %.1f times per record of %s", allocs, rec.UpstreamCluster)
		}
	}
}
