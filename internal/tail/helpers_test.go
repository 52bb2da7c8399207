package tail

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// event is one Handler call, written as "open <path>", "close <path>",
// "line <path> <n> <text>" or "toolong <path> <n> <bytes>", with path relative to the test dir.
type recorder struct {
	dir  string
	safe func(line string) bool // nil: every line is safe

	mu     sync.Mutex
	events []string
}

func (r *recorder) rel(path string) string {
	if p, err := filepath.Rel(r.dir, path); err == nil {
		return p
	}
	return path
}

func (r *recorder) add(e string) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

func (r *recorder) Open(path string) LineFunc {
	p := r.rel(path)
	r.add("open " + p)
	return func(data []byte, lineNo int64) bool {
		s := string(data)
		r.add(fmt.Sprintf("line %s %d %s", p, lineNo, s))
		return r.safe == nil || r.safe(s)
	}
}

func (r *recorder) TooLong(path string, lineNo int64, n int) {
	r.add(fmt.Sprintf("toolong %s %d %d", r.rel(path), lineNo, n))
}

func (r *recorder) Close(path string) { r.add("close " + r.rel(path)) }

func (r *recorder) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.events...)
}

// lines returns the text of the line events.
func (r *recorder) lines() []string {
	var out []string
	for _, e := range r.all() {
		if strings.HasPrefix(e, "line ") {
			f := strings.SplitN(e, " ", 4)
			out = append(out, f[3])
		}
	}
	return out
}

// waitFor polls cond until it holds; the deadline only guards against a hang.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func waitEvents(t *testing.T, r *recorder, n int) []string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(r.all()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %d handler events; have %q", n, r.all())
		}
		time.Sleep(5 * time.Millisecond)
	}
	return r.all()
}

// fastConfig is a Config with short intervals for tests.
func fastConfig(dir string, patterns ...string) Config {
	for i, p := range patterns {
		patterns[i] = filepath.Join(dir, p)
	}
	return Config{
		Patterns:           patterns,
		PollInterval:       5 * time.Millisecond,
		RescanInterval:     20 * time.Millisecond,
		CheckpointInterval: 20 * time.Millisecond,
		RotateWait:         20 * time.Millisecond,
	}
}

type running struct {
	t      *Tailer
	cancel context.CancelFunc
	done   chan error
}

// start runs a Tailer until the test ends or stop is called.
func start(t *testing.T, cfg Config, h Handler) *running {
	t.Helper()
	tl, err := New(cfg, h)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{t: tl, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- tl.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	waitFor(t, "first scan", tl.Ready)
	return r
}

func (r *running) stop(t *testing.T) {
	t.Helper()
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	require.NoError(t, <-r.done)
}

func appendFile(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	require.NoError(t, err)
	_, err = f.WriteString(s)
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

// numbered returns lines "<prefix>-<i>\n" for i in [from, to].
func numbered(prefix string, from, to int) string {
	var b strings.Builder
	for i := from; i <= to; i++ {
		fmt.Fprintf(&b, "%s-%d\n", prefix, i)
	}
	return b.String()
}

// lineEvents returns the events of numbered lines, numbers from lineNo on.
func lineEvents(path, prefix string, from, to int, lineNo int64) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, fmt.Sprintf("line %s %d %s-%d", path, lineNo, prefix, i))
		lineNo++
	}
	return out
}

func concat(parts ...[]string) []string {
	var out []string
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func rotations(r *running, kind string) float64 {
	return testutil.ToFloat64(r.t.m.rotations.WithLabelValues(kind))
}

// byFile splits events by file: the order across files is not defined, within one file it is.
func byFile(events []string) map[string][]string {
	out := map[string][]string{}
	for _, e := range events {
		p := strings.SplitN(e, " ", 3)[1]
		out[p] = append(out[p], e)
	}
	return out
}

func newRegistry() *prometheus.Registry { return prometheus.NewRegistry() }
