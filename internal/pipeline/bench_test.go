package pipeline

import (
	"testing"

	"github.com/fallbackwatch/fallbackwatch/aggregate"
	"github.com/fallbackwatch/fallbackwatch/internal/corpus"
)

// BenchmarkStreamLine is the cost of one line of `collector run` without routing configuration:
// the record step and the counting, over the generated Bookinfo corpus.
func BenchmarkStreamLine(b *testing.B) {
	lines := corpus.Lines(10000, corpus.Options{Seed: 1})
	c, err := aggregate.NewCounters(aggregate.Config{})
	if err != nil {
		b.Fatal(err)
	}
	p, err := New(Config{Counters: c})
	if err != nil {
		b.Fatal(err)
	}
	st := p.NewStream(SourceStdin, aggregate.Source{Namespace: "default", Workload: "productpage-v1"})
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		st.Line(lines[i%len(lines)])
		i++
	}
}
