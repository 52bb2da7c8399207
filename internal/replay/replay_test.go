package replay

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/fallbackwatch/fallbackwatch/parse"

	"github.com/fallbackwatch/fallbackwatch/internal/corpus"
	"github.com/fallbackwatch/fallbackwatch/routing"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func bookinfoConfig(t testing.TB) *routing.Config {
	t.Helper()
	cfg, err := routing.Load("../../testdata/bookinfo/destinationrule.yaml", "../../testdata/bookinfo/sample2.yaml")
	require.NoError(t, err)
	return cfg
}

func bookinfoLog(t testing.TB, n int, format corpus.Format) []byte {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, corpus.Generate(&buf, n, corpus.Options{Scenario: corpus.Bookinfo, Format: format, CRISplit: 300}))
	return buf.Bytes()
}

// collect reads every block and returns the lines they hold, keyed by 1-based line number, and
// the numbers of the lines left out for being too long.
func collect(t *testing.T, r io.Reader, size, maxLine int) (map[int64]string, []int64) {
	t.Helper()
	br := newBlockReader(r, size, maxLine)
	lines := map[int64]string{}
	var tooLong []int64
	n := int64(1)
	for {
		b, err := br.next(nil)
		if err == io.EOF {
			return lines, tooLong
		}
		require.NoError(t, err)
		for i := 0; i < b.skipped; i++ {
			tooLong = append(tooLong, n)
			n++
		}
		data := b.data
		if len(data) > 0 {
			require.True(t, data[len(data)-1] == '\n' || br.eof, "block %d ends inside a line", b.seq)
			require.False(t, isCRIPartial(lastLine(data)), "block %d ends with a CRI partial line", b.seq)
		}
		for len(data) > 0 {
			i := bytes.IndexByte(data, '\n')
			if i < 0 {
				lines[n] = string(data)
				n++
				break
			}
			lines[n] = string(data[:i])
			data = data[i+1:]
			n++
		}
	}
}

func lastLine(data []byte) []byte {
	data = bytes.TrimSuffix(data, []byte("\n"))
	return data[bytes.LastIndexByte(data, '\n')+1:]
}

func TestBlockReaderKeepsEveryLine(t *testing.T) {
	long := strings.Repeat("x", 300)
	input := "a\nbb\r\n\n" + long + "\nccc\n2023-05-30T07:02:26.990123456Z stdout P {\"a\":\n" +
		"2023-05-30T07:02:26.990123457Z stdout F 1}\n" + strings.Repeat("y", 5000) + "\nlast"
	for _, size := range []int{1, 7, 64, 256, 1 << 20} {
		for name, r := range map[string]io.Reader{
			"whole":    strings.NewReader(input),
			"one byte": iotest.OneByteReader(strings.NewReader(input)),
		} {
			t.Run(fmt.Sprintf("%s/%d", name, size), func(t *testing.T) {
				lines, tooLong := collect(t, r, size, 1000)
				want := strings.Split(input, "\n")
				for i, w := range want {
					n := int64(i + 1)
					if len(w) > 1000 {
						_, present := lines[n]
						// A line over the cap is either reported by the reader or left to the worker.
						require.True(t, present || contains(tooLong, n), "line %d lost", n)
						continue
					}
					require.Equal(t, w, lines[n], "line %d", n)
				}
			})
		}
	}
}

func contains(l []int64, n int64) bool {
	for _, x := range l {
		if x == n {
			return true
		}
	}
	return false
}

func TestBlockReaderSkipsLineLongerThanBuffer(t *testing.T) {
	input := "first\n" + strings.Repeat("z", 10000) + "\nthird\n"
	lines, tooLong := collect(t, strings.NewReader(input), 16, 100)
	require.Equal(t, []int64{2}, tooLong)
	require.Equal(t, "first", lines[1])
	require.Equal(t, "third", lines[3])
	require.NotContains(t, lines, int64(2))
}

func TestBookinfoReplayIsConsistent(t *testing.T) {
	log := bookinfoLog(t, 4000, corpus.Raw)
	rep, err := Run(context.Background(), []Input{{Name: "bookinfo.log", R: bytes.NewReader(log)}},
		Options{Config: bookinfoConfig(t), BlockBytes: 64 << 10, MaxLineBytes: 16 << 10})
	require.NoError(t, err)
	require.Equal(t, int64(4000), rep.Lines.Total)
	require.Equal(t, rep.Lines.Total, rep.Lines.Records+rep.Lines.Rejected+rep.Lines.Skipped+rep.Lines.Fragments)
	require.Zero(t, rep.Lines.Rejected, "%v", rep.Rejects)
	require.Zero(t, rep.ViolationsTotal, "%v", rep.Violations)
	var requests, failed int64
	for _, g := range rep.Groups {
		requests += g.Requests
		if g.Result == "failed" {
			failed += g.Requests
			// R16: a failed fallback is served by nobody and was routed to v3 first (R17).
			require.Empty(t, g.FinalCluster)
			require.Equal(t, "v3", g.PrimarySubset)
		}
	}
	require.Equal(t, rep.Lines.Records, requests)
	require.Positive(t, failed)
	var minutes int64
	for _, m := range rep.Timeline {
		minutes += m.Requests
	}
	require.Equal(t, rep.Lines.Records, minutes)
	v3 := rep.Health["outbound|9080|v3|reviews.default.svc.cluster.local"]
	require.NotEmpty(t, v3)
	require.True(t, v3[0].Healthy, "the story starts with v3 serving")
}

func TestWorkersAgree(t *testing.T) {
	log := bookinfoLog(t, 3000, corpus.CRI)
	var reports []*Report
	for _, w := range []int{1, 2, 3} {
		rep, err := Run(context.Background(), []Input{{Name: "x", R: bytes.NewReader(log)}},
			Options{Config: bookinfoConfig(t), Workers: w, BlockBytes: 32 << 10, MaxLineBytes: 8 << 10})
		require.NoError(t, err)
		require.Equal(t, rep.Lines.Total, rep.Lines.Records+rep.Lines.Rejected+rep.Lines.Skipped+rep.Lines.Fragments)
		require.Positive(t, rep.Lines.Fragments, "the CRI corpus splits long records")
		// Warnings depend on the health each worker saw; everything else must not.
		rep.Warnings, rep.Verdicts = nil, nil
		reports = append(reports, rep)
	}
	require.Equal(t, reports[0], reports[1])
	require.Equal(t, reports[0], reports[2])
	require.Zero(t, reports[0].Lines.Rejected, "%v", reports[0].Rejects)
}

func TestBadLinesAreCountedAndLocated(t *testing.T) {
	good := bookinfoLog(t, 20, corpus.Raw)
	lines := bytes.Split(bytes.TrimSuffix(good, []byte("\n")), []byte("\n"))
	bad := map[int]struct{ line, reason string }{
		3:  {`{"upstream_cluster":"outbound|9080|v3|reviews.default.svc.cluster.local","response_code":`, "truncated"},
		5:  {`{"response_code":"200","upstream_cluster":"outbound|nonsense"}`, "bad_cluster"},
		7:  {`{"response_code":{"x":1},"upstream_cluster":"outbound|9080|v3|reviews.default.svc.cluster.local"}`, "wrong_type"},
		9:  {"{\"response_code\":\"200\",\"path\":\"/\xff\",\"upstream_cluster\":\"outbound|9080|v3|reviews.default.svc.cluster.local\"}", "invalid_utf8"},
		11: {`{"response_code":"200","fallback_path":"outbound|9080|v3|reviews.default.svc.cluster.local","upstream_cluster":"outbound|9080|v3|reviews.default.svc.cluster.local"}`, "bad_fallback_path"},
		13: {`{"response_code":"200",` + strings.Repeat(`"k":"v",`, 400) + `"upstream_cluster":"BlackHoleCluster"}`, "too_long"},
	}
	var in bytes.Buffer
	for i, l := range lines {
		if b, ok := bad[i+1]; ok {
			in.WriteString(b.line + "\n")
			continue
		}
		in.Write(l)
		in.WriteByte('\n')
	}
	rep, err := Run(context.Background(), []Input{{Name: "bad.log", R: &in}}, Options{MaxLineBytes: 2048, BlockBytes: 4096})
	require.NoError(t, err)
	require.Equal(t, int64(len(bad)), rep.Lines.Rejected)
	require.Len(t, rep.Rejects, len(bad))
	for _, r := range rep.Rejects {
		want, ok := bad[int(r.Line)]
		require.True(t, ok, "line %d rejected: %s", r.Line, r.Message)
		require.Equal(t, want.reason, r.Reason, "line %d: %s", r.Line, r.Message)
		require.Equal(t, "bad.log", r.File)
	}
	require.Equal(t, int64(20), rep.Lines.Total)
}

func TestViolationIsLocated(t *testing.T) {
	log := bookinfoLog(t, 600, corpus.Raw)
	lines := bytes.Split(log, []byte("\n"))
	// Find a successful v3→v2 fallback and claim it was served by v1 instead (C2).
	target := -1
	for i, l := range lines {
		if bytes.Contains(l, []byte(`"fallback successful"`)) && bytes.Contains(l, []byte(`v3|reviews.default.svc.cluster.local:`)) {
			target = i
			break
		}
	}
	require.GreaterOrEqual(t, target, 0)
	lines[target] = bytes.ReplaceAll(lines[target], []byte("outbound|9080|v2|"), []byte("outbound|9080|v1|"))
	rep, err := Run(context.Background(), []Input{{Name: "tampered.log", R: bytes.NewReader(bytes.Join(lines, []byte("\n")))}},
		Options{Config: bookinfoConfig(t)})
	require.NoError(t, err)
	require.Equal(t, int64(1), rep.ViolationsTotal, "%v", rep.Violations)
	require.Equal(t, int64(target+1), rep.Violations[0].Line)
	require.Equal(t, "C2", rep.Violations[0].Rule)
	require.Equal(t, int64(1), rep.ViolationsByRule["C2"])
}

type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n == 0 {
		return 0, fmt.Errorf("disk on fire")
	}
	f.n--
	return copy(p, "{\"response_code\":\"200\",\"upstream_cluster\":\"BlackHoleCluster\"}\n"), nil
}

func TestReadErrorKeepsWhatWasRead(t *testing.T) {
	rep, err := Run(context.Background(), []Input{{Name: "broken", R: &failingReader{n: 3}}}, Options{Workers: 2, BlockBytes: 1})
	require.ErrorContains(t, err, "reading broken: disk on fire")
	require.NotNil(t, rep)
}

func TestTextReport(t *testing.T) {
	rep, err := Run(context.Background(), []Input{{Name: "b.log", R: bytes.NewReader(bookinfoLog(t, 3000, corpus.Raw))}},
		Options{Config: bookinfoConfig(t)})
	require.NoError(t, err)
	var out bytes.Buffer
	require.NoError(t, rep.WriteText(&out))
	s := out.String()
	for _, want := range []string{"reviews.default.svc.cluster.local:", "route default/reviews-route#0", "worst minute:", "UNHEALTHY", "failed fallback"} {
		require.Contains(t, s, want)
	}
}

func TestHealthIsBounded(t *testing.T) {
	h := newHealthLog()
	t0 := time.Date(2023, 5, 30, 7, 0, 0, 0, time.UTC)
	for i := 0; i < 10*maxHealthIntervals; i++ {
		at := t0.Add(time.Duration(i) * time.Second)
		h.merge(map[string][]routing.Interval{"c": {{Start: at, End: at, Healthy: i%2 == 0}}})
	}
	ivs := h.m["c"]
	require.LessOrEqual(t, len(ivs), maxHealthIntervals)
	require.Equal(t, t0, ivs[0].Start, "coarsening keeps the whole span")
	require.Equal(t, t0.Add(time.Duration(10*maxHealthIntervals-1)*time.Second), ivs[len(ivs)-1].End)
	require.Equal(t, StateMixed, ivs[0].State)

	for i := 0; i < maxHealthClusters+10; i++ {
		h.merge(map[string][]routing.Interval{fmt.Sprint("x", i): {{Start: t0, End: t0, Healthy: true}}})
	}
	require.Len(t, h.m, maxHealthClusters)
	require.Equal(t, int64(11), h.dropped)
}

func TestTimelineBucketsWiden(t *testing.T) {
	a := newAccumulator()
	w := &worker{acc: a}
	var rec parse.Record
	var p parse.Parser
	require.NoError(t, p.Parse([]byte(corpus.SeedSuccess), &rec))
	t0 := time.Date(2023, 5, 30, 7, 0, 0, 0, time.UTC)
	const n = 3 * maxBuckets
	for i := 0; i < n; i++ {
		w.minute(&rec, t0.Add(time.Duration(i)*time.Minute), nil)
	}
	require.LessOrEqual(t, len(w.acc.minutes), maxBuckets)
	require.Greater(t, w.acc.bucket, int64(60))
	var total int64
	for _, m := range w.acc.minutes {
		total += m.Requests
		require.Zero(t, m.Minute.Unix()%w.acc.bucket)
	}
	require.Equal(t, int64(n), total)
}

// A line longer than a whole block is dropped by the reader; it is still located exactly, and so
// is every line after it.
func TestHugeLineIsLocated(t *testing.T) {
	good := string(bookinfoLog(t, 40, corpus.Raw))
	lines := strings.Split(strings.TrimSuffix(good, "\n"), "\n")
	huge := `{"response_code":"200","path":"/` + strings.Repeat("a", 20000) + `"}`
	in := strings.Join(lines[:10], "\n") + "\n" + huge + "\n" + huge + "\n" + strings.Join(lines[10:], "\n") + "\n" +
		`{"response_code":"200","upstream_cluster":"outbound|nonsense"}` + "\n"
	rep, err := Run(context.Background(), []Input{{Name: "huge.log", R: strings.NewReader(in)}},
		Options{MaxLineBytes: 2048, BlockBytes: 4096, Workers: 2})
	require.NoError(t, err)
	require.Equal(t, int64(43), rep.Lines.Total)
	var got []string
	for _, r := range rep.Rejects {
		got = append(got, fmt.Sprintf("%d:%s", r.Line, r.Reason))
	}
	require.Equal(t, []string{"11:too_long", "12:too_long", "43:bad_cluster"}, got)
}

// Workers' timelines of disjoint minutes merge into one that still keeps the bucket bound.
func TestMergedTimelineKeepsBucketBound(t *testing.T) {
	var rec parse.Record
	var p parse.Parser
	require.NoError(t, p.Parse([]byte(corpus.SeedSuccess), &rec))
	t0 := time.Date(2023, 5, 30, 7, 0, 0, 0, time.UTC)
	a, b := &worker{acc: newAccumulator()}, &worker{acc: newAccumulator()}
	for i := 0; i < maxBuckets; i++ {
		a.minute(&rec, t0.Add(time.Duration(2*i)*time.Minute), nil)
		b.minute(&rec, t0.Add(time.Duration(2*i+1)*time.Minute), nil)
	}
	require.Len(t, a.acc.minutes, maxBuckets)
	a.acc.merge(&b.acc)
	require.LessOrEqual(t, len(a.acc.minutes), maxBuckets)
	var total int64
	for _, m := range a.acc.minutes {
		total += m.Requests
		require.Equal(t, m.Requests, m.FallbackSuccess, "the seed record fell back and was served (R15)")
	}
	require.Equal(t, int64(2*maxBuckets), total)
}
