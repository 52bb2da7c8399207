package parse

// Compare runs with benchstat (golang.org/x/perf/cmd/benchstat):
//
//	go test ./parse -run '^$' -bench . -benchmem -count 5 > new.txt
//	benchstat old.txt new.txt

import (
	"bytes"
	"encoding/json"
	"io"
	"sync"
	"testing"

	"github.com/bytedance/sonic"

	"github.com/fallbackwatch/fallbackwatch/internal/corpus"
)

var benchCorpus = sync.OnceValues(func() ([][]byte, int64) {
	lines := corpus.Lines(10000, corpus.Options{Seed: 42})
	var n int64
	for _, l := range lines {
		n += int64(len(l)) + 1
	}
	return lines, n
})

// sonicFields is the struct a sonic baseline decodes into: the same fields Parse extracts, with
// the numbers as N.
type sonicFields[N any] struct {
	FallbackPath         string `json:"fallback_path"`
	FallbackFinalCluster string `json:"fallback_final_cluster_name"`
	FallbackResult       string `json:"fallback_result"`
	UpstreamCluster      string `json:"upstream_cluster"`
	ResponseFlags        string `json:"response_flags"`
	RouteName            string `json:"route_name"`
	Authority            string `json:"authority"`
	Method               string `json:"method"`
	Path                 string `json:"path"`
	StartTime            string `json:"start_time"`
	UpstreamHost         string `json:"upstream_host"`
	RequestID            string `json:"request_id"`
	ResponseCode         N      `json:"response_code"`
	Duration             N      `json:"duration"`
}

// sonicRecord takes numbers typed or as strings without allocating.
type sonicRecord = sonicFields[sonicNumber]

// sonicNumberRecord takes them as json.Number, the standard library's type for a number kept as
// written.
type sonicNumberRecord = sonicFields[json.Number]

// sonicNumber takes a JSON number or a string without allocating.
type sonicNumber []byte

func (n *sonicNumber) UnmarshalJSON(b []byte) error {
	*n = append((*n)[:0], b...)
	return nil
}

func benchLines(b *testing.B, each func(line []byte) error) {
	lines, size := benchCorpus()
	b.SetBytes(size / int64(len(lines)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if err := each(lines[i%len(lines)]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParse(b *testing.B) {
	var p Parser
	var r Record
	benchLines(b, func(line []byte) error { return p.Parse(line, &r) })
}

func BenchmarkParseSonicMap(b *testing.B) {
	var p Parser
	var r Record
	benchLines(b, func(line []byte) error { return p.ParseSonic(line, &r) })
}

func BenchmarkSonicUnmarshal(b *testing.B) {
	benchLines(b, func(line []byte) error {
		var r sonicRecord
		return sonic.Unmarshal(line, &r)
	})
}

func BenchmarkSonicFastestNoCopy(b *testing.B) {
	api := sonic.ConfigFastest
	benchLines(b, func(line []byte) error {
		var r sonicRecord
		return api.UnmarshalFromString(unsafeString(line), &r)
	})
}

func benchParallel(b *testing.B, mk func() func(line []byte) error) {
	lines, size := benchCorpus()
	b.SetBytes(size / int64(len(lines)))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		each := mk()
		for i := 0; pb.Next(); i++ {
			if err := each(lines[i%len(lines)]); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkParseParallel(b *testing.B) {
	benchParallel(b, func() func([]byte) error {
		var p Parser
		var r Record
		return func(line []byte) error { return p.Parse(line, &r) }
	})
}

func BenchmarkSonicUnmarshalParallel(b *testing.B) {
	benchParallel(b, func() func([]byte) error {
		return func(line []byte) error {
			var r sonicRecord
			return sonic.Unmarshal(line, &r)
		}
	})
}

// framedCorpus is the benchmark corpus as one byte stream in a given format.
func framedCorpus(b *testing.B, f corpus.Format) []byte {
	b.Helper()
	var buf bytes.Buffer
	if err := corpus.Generate(&buf, 10000, corpus.Options{Seed: 42, Format: f}); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}

func BenchmarkLineReader(b *testing.B) {
	data := framedCorpus(b, corpus.Raw)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	lr := NewLineReader(nil, 0)
	rd := bytes.NewReader(data)
	for b.Loop() {
		rd.Reset(data)
		lr.Reset(rd)
		for {
			if _, err := lr.Next(); err != nil {
				break
			}
		}
	}
}

func benchStream(b *testing.B, f corpus.Format) {
	data := framedCorpus(b, f)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var r Record
	for b.Loop() {
		s := NewStream(bytes.NewReader(data), Options{})
		for {
			if _, err := s.Next(&r); err == io.EOF {
				break
			} else if err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkStreamRaw(b *testing.B)    { benchStream(b, corpus.Raw) }
func BenchmarkStreamCRI(b *testing.B)    { benchStream(b, corpus.CRI) }
func BenchmarkStreamDocker(b *testing.B) { benchStream(b, corpus.Docker) }

// BenchmarkSonicFastestReused gives sonic the same advantages Parse has: ConfigFastest, no
// copy of the line, one struct reused for every line, numbers as json.Number.
func BenchmarkSonicFastestReused(b *testing.B) {
	api := sonic.ConfigFastest
	var r sonicNumberRecord
	benchLines(b, func(line []byte) error {
		r = sonicNumberRecord{}
		return api.UnmarshalFromString(unsafeString(line), &r)
	})
}
