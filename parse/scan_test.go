package parse

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fallbackwatch/fallbackwatch/internal/corpus"
)

// TestSpecialMask checks the word-at-a-time test for the bytes that end a fast string scan:
// the lowest flagged byte is the first special one, whatever follows it.
func TestSpecialMask(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var w [8]byte
	for pos := range 8 {
		for c := range 256 {
			for range 64 {
				for k := range w {
					switch {
					case k < pos:
						w[k] = byte(0x20 + rng.IntN(0x60)) // printable ASCII, may be '"' or '\\'
						if w[k] == '"' || w[k] == '\\' {
							w[k] = 'a'
						}
					case k == pos:
						w[k] = byte(c)
					default:
						w[k] = byte(rng.Uint32())
					}
				}
				m := specialMask(binary.LittleEndian.Uint64(w[:]))
				first := bits.TrailingZeros64(m) >> 3
				if specialByte[c] {
					require.Equal(t, pos, first, "byte %#x at %d in % x", c, pos, w)
				} else {
					require.Greater(t, first, pos, "byte %#x at %d in % x", c, pos, w)
				}
			}
		}
	}
}

// TestParseAfterOtherShapes parses lines after other lines with a warm Parser, whose remembered
// key orders then predict wrongly in every way the inputs allow, and compares with a fresh
// Parser.
func TestParseAfterOtherShapes(t *testing.T) {
	lines := []string{
		`{"response_code":200,"duration":5}`,
		`{"response_code": 200, "duration": 5}`,
		`{ "response_code" : 200 , "duration" : 5 }`,
		"{\"response_code\":\t200,\n\"duration\":5}",
		`{"response_code":200,"duration":5,"upstream_cluster":"BlackHoleCluster"}`,
		`{"response_code":200,"duratio":5}`,
		`{"response_code":200,"durationx":5}`,
		`{"response_code":200,"duration":"5"}`,
		`{"response_code":200,"duration":5.5}`,
		`{"response_code":200,"duration":"x"}`,
		`{"response_code":200,"duration":5,"duration":"-"}`,
		`{"response_code":200,"duration":"-","duration":6}`,
		`{"response_code":200,"duration":true}`,
		`{"response_code":200}`,
		`{"response_code":200,`,
		`{"response_code":200,"duration"`,
		`{"response_code":200,"duration":`,
		`{"response_code":200,"duration":5`,
		`{"response_code":200,"duration":5}}`,
		`{"response_code":200 "duration":5}`,
		`{"response_code":200,"duration" 5}`,
		`{"response_code":200,"path":"/a\"b","duration":5}`,
		`{"response_code":200,"path":"caf\u00e9","duration":5}`,
		`{"response_code":200,"dur\u0061tion":5}`,
		`{"a_key_longer_than_thirty_two_bytes_in_all":1,"response_code":200}`,
		`{"a_key_longer_than_thirty_two_bytes_in_all":1,"response_code":201}`,
		`{"a_key_longer_than_thirty_two_bytes_in_alL":1,"response_code":202}`,
		`{}`,
		// Gaps longer than the words compared at once, differing only at their ends.
		`{"response_code":200,                    "upstream_cluster":"BlackHoleCluster"}`,
		`{"response_code":200,                    "upstream_clustex":"BlackHoleCluster"}`,
		`{"response_code":200,                    "upstream_cluster" :"BlackHoleCluster"}`,
		`{"response_code":null,"duration":null,"route_name":null}`,
		corpus.SeedSuccess,
		corpus.SeedFailed,
	}
	for _, l := range corpus.Lines(20, corpus.Options{Seed: 11, EscapeRate: 0.3}) {
		lines = append(lines, string(l))
	}
	for _, prev := range lines {
		for _, line := range lines {
			checkWarm(t, []byte(prev), []byte(line))
		}
	}
}

// checkWarm parses line after prev and requires the answer a fresh Parser gives.
func checkWarm(t *testing.T, prev, line []byte) {
	t.Helper()
	var warm, fresh Parser
	var r1, r2 Record
	_ = warm.Parse(prev, &r1)
	_ = warm.Parse(prev, &r1)
	in := bytes.Clone(line)
	err1 := warm.Parse(line, &r1)
	require.Equal(t, in, line, "Parse modified its input")
	err2 := fresh.Parse(line, &r2)
	if err2 != nil {
		require.Error(t, err1, "after %q: %q", prev, line)
		require.Equal(t, err2.(*Error).Reason, err1.(*Error).Reason, "after %q: %q", prev, line)
		return
	}
	require.NoError(t, err1, "after %q: %q", prev, line)
	require.Equal(t, viewOf(&r2), viewOf(&r1), "after %q: %q", prev, line)
}

// FuzzParseWarm parses a line after another with the same Parser: the key orders remembered
// from the first must never change the answer for the second.
func FuzzParseWarm(f *testing.F) {
	seeds := corpus.Lines(6, corpus.Options{Seed: 5, EscapeRate: 0.3})
	for i := range seeds {
		f.Add(seeds[i], seeds[(i+1)%len(seeds)])
	}
	f.Add([]byte(`{"response_code":200,"duration":5}`), []byte(`{"response_code":200, "duration":5}`))
	f.Add([]byte(`{"response_code":200,"duration":5}`), []byte(`{"response_code":200,"duration":5,`))
	f.Add([]byte(`{"a":1,"response_code":200}`), []byte(`{"a":1,"response_code":"x"}`))
	f.Fuzz(func(t *testing.T, prev, line []byte) {
		if len(prev)+len(line) > 64<<10 {
			return
		}
		checkWarm(t, prev, line)
	})
}
