package replay

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fallbackwatch/fallbackwatch/internal/corpus"
	"github.com/fallbackwatch/fallbackwatch/parse"
)

// isCRIPartial reports whether line is a partial fragment of a container runtime's framing.
func isCRIPartial(line []byte) bool {
	_, partial, ok := parse.Fragment(line)
	return ok && partial
}

// interleavedCRI writes n records as CRI lines; every seventh record is split into a stdout P
// and a stdout F fragment with an unrelated stderr line (Envoy's text log) between them. It
// returns the input and how many records were split.
func interleavedCRI(n int) ([]byte, int) {
	var b bytes.Buffer
	split := 0
	for i := 0; i < n; i++ {
		ts := fmt.Sprintf("2023-05-30T07:%02d:%02d.%09dZ", i/60000%60, i/1000%60, i%1000)
		rec := fmt.Sprintf(`{"authority":"reviews:9080","response_code":"%d","upstream_cluster":"outbound|9080|v%d|reviews.default.svc.cluster.local","start_time":"%s","x_request_id":"r%d"}`,
			[]int{200, 200, 503}[i%3], i%3+1, ts, i)
		if i%7 != 0 {
			fmt.Fprintf(&b, "%s stdout F %s\n", ts, rec)
			continue
		}
		split++
		cut := len(rec) / 2
		fmt.Fprintf(&b, "%s stdout P %s\n", ts, rec[:cut])
		fmt.Fprintf(&b, "%s stderr F %s\tinfo\tads\tADS: new connection %d\n", ts, ts, i)
		fmt.Fprintf(&b, "%s stdout F %s\n", ts, rec[cut:])
	}
	return b.Bytes(), split
}

// TestBlocksNeverCutAChain checks every block boundary: a framer that starts fresh at each
// block holds nothing at the block's end.
func TestBlocksNeverCutAChain(t *testing.T) {
	in, _ := interleavedCRI(5000)
	for _, size := range []int{600, 4096, 10000, 64 << 10} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			br := newBlockReader(bytes.NewReader(in), size, 300)
			blocks := 0
			for {
				b, err := br.next(nil)
				if err != nil {
					break
				}
				blocks++
				f := parse.NewFramer(parse.Options{})
				for rest := b.data; len(rest) > 0; {
					var line []byte
					line, rest, _ = parse.NextLine(rest, 0)
					_, _, err := f.Frame(line)
					require.NoError(t, err)
				}
				require.False(t, f.Pending(), "block %d ends inside a split record", b.seq)
			}
			require.Greater(t, blocks, 1)
		})
	}
}

// TestWorkersAgreeOnFragments replays 300,000 records, every seventh split around an unrelated
// stderr line, with 1, 2 and 4 workers and small blocks: the same records, rejects and counts.
func TestWorkersAgreeOnFragments(t *testing.T) {
	const n = 300000
	in, split := interleavedCRI(n)
	var reports []*Report
	for _, w := range []int{1, 2, 4} {
		rep, err := Run(context.Background(), []Input{{Name: "interleaved.log", R: bytes.NewReader(in)}},
			Options{Workers: w, BlockBytes: 64 << 10, MaxLineBytes: 16 << 10})
		require.NoError(t, err)
		require.Equal(t, LineCounts{Total: int64(n + 2*split), Records: n, Skipped: int64(split), Fragments: int64(split), Bytes: int64(len(in))},
			rep.Lines, "workers=%d rejects=%v", w, rep.Rejects)
		require.Empty(t, rep.RejectedReasons, "workers=%d", w)
		reports = append(reports, rep)
	}
	require.Equal(t, reports[0], reports[1])
	require.Equal(t, reports[0], reports[2])
}

// TestWorkersAgreeOnVerdicts: the routing checks too depend on the input only, not on how many
// workers read it. The Bookinfo story, cut into many small blocks, changes health often, so C6's
// warnings near a health change are judged at many block starts; every worker forgets the health
// it inferred at each block (Step.Reset), whichever blocks it read before.
func TestWorkersAgreeOnVerdicts(t *testing.T) {
	const n = 20000
	in := bookinfoLog(t, n, corpus.Raw)
	cfg := bookinfoConfig(t)
	var reports []*Report
	for _, w := range []int{1, 2, 4} {
		rep, err := Run(context.Background(), []Input{{Name: "bookinfo.log", R: bytes.NewReader(in)}},
			Options{Workers: w, BlockBytes: 64 << 10, MaxLineBytes: 16 << 10, Config: cfg})
		require.NoError(t, err)
		require.Greater(t, rep.Lines.Records, int64(n/2), "workers=%d", w)
		reports = append(reports, rep)
	}
	require.NotZero(t, reports[0].Verdicts["warning"], "the story has decisions near health changes (C6)")
	for i := 1; i < len(reports); i++ {
		require.Equal(t, reports[0].Lines, reports[i].Lines)
		require.Equal(t, reports[0].Verdicts, reports[i].Verdicts, "verdicts with 1 worker and with %d", []int{1, 2, 4}[i])
		require.Equal(t, reports[0].ViolationsByRule, reports[i].ViolationsByRule)
		require.Equal(t, reports[0].Warnings, reports[i].Warnings)
	}
}
