package main

import (
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestRunSIGHUPWithoutRouting: without --routing, SIGHUP neither kills the collector nor loses
// anything: it keeps counting, and the positions it saves at the later SIGTERM let the next
// process count only what was written after. Checkpoints are an hour apart, so only shutdown
// saves positions.
func TestRunSIGHUPWithoutRouting(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, podLog)
	state := filepath.Join(t.TempDir(), "positions.json")
	lines := bookinfo(300, 11)
	appendLines(t, path, lines[:100])
	args := []string{"--tail.poll-interval=50ms", "--tail.rescan-interval=200ms", "--tail.checkpoint-interval=1h",
		"--tail.state-file", state, filepath.Join(dir, "*.log")}

	p := startRun(t, nil, args...)
	var e expect
	e.add(lines[:100])
	p.waitMetrics(t, "the first lines", 10*time.Second, reached("file", e))

	require.NoError(t, p.cmd.Process.Signal(syscall.SIGHUP))
	require.Eventually(t, func() bool { return strings.Contains(p.stderr.String(), "SIGHUP") }, 10*time.Second, 20*time.Millisecond,
		"the collector logs the reload")
	select {
	case <-p.done:
		require.FailNowf(t, "SIGHUP ended the collector", "exit %d, stderr:\n%s", p.code, p.stderr.String())
	default:
	}
	p.waitStatus(t, "/healthz", http.StatusOK, 5*time.Second)
	appendLines(t, path, lines[100:200])
	e.add(lines[100:200])
	m := p.waitMetrics(t, "lines written after SIGHUP", 10*time.Second, reached("file", e))
	requireExact(t, m, "file", e)
	require.Equal(t, 1.0, m.sum("fallbackwatch_config_last_reload_successful"))
	p.stop(t)
	require.FileExists(t, state, "positions saved at SIGTERM")

	appendLines(t, path, lines[200:])
	p2 := startRun(t, nil, args...)
	var e2 expect
	e2.add(lines[200:])
	m = p2.waitMetrics(t, "only the lines written since the stop", 10*time.Second, reached("file", e2))
	requireExact(t, m, "file", e2)
	settle(t, p2, "file", e2)
	p2.stop(t)
}
