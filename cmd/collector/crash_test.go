//go:build unix

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/fallbackwatch/fallbackwatch/internal/tail"
	"github.com/stretchr/testify/require"
)

// crashArgs follow one file with a state file and no time-based checkpoint within the test's
// reach: every checkpoint a crash test sees was saved by volume (tail.DefaultCheckpointBytes).
func crashArgs(state, pattern string) []string {
	return []string{"--tail.poll-interval=50ms", "--tail.rescan-interval=200ms", "--tail.checkpoint-interval=1h",
		"--tail.state-file", state, pattern}
}

// checkpointOf returns the offset and line of path's position in the state file.
func checkpointOf(t *testing.T, state, path string) (offset, line int64) {
	t.Helper()
	data, err := os.ReadFile(state)
	require.NoError(t, err, "a state file was written before the crash")
	var st struct {
		Files []struct {
			Path   string `json:"path"`
			Offset int64  `json:"offset"`
			Line   int64  `json:"line"`
		} `json:"files"`
	}
	require.NoError(t, json.Unmarshal(data, &st))
	for _, f := range st.Files {
		if f.Path == path {
			return f.Offset, f.Line
		}
	}
	require.FailNowf(t, "no checkpoint", "state file has no position for %s:\n%s", path, data)
	return 0, 0
}

// killMidBacklog starts `collector run` on a backlog of lines in path, waits until it has read
// at least a quarter of them, and kills it with SIGKILL: no save at shutdown. It returns how
// many lines the last scrape before the kill showed as read, and checks the promise a checkpoint
// by volume makes: the position saved before the crash is behind what was read by no more than
// tail.DefaultCheckpointBytes plus one line.
func killMidBacklog(t *testing.T, state, path string, lines [][]byte) (seen int64) {
	t.Helper()
	p := startRun(t, nil, crashArgs(state, filepath.Join(filepath.Dir(path), "*.log"))...)
	m := p.waitMetrics(t, "a quarter of the backlog read", 60*time.Second, func(m metrics) bool {
		return m.sum("fallbackwatch_lines_read_total", "source", "file") >= float64(len(lines)/4)
	})
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGKILL))
	<-p.done
	seen = int64(m.sum("fallbackwatch_lines_read_total", "source", "file"))

	offset, line := checkpointOf(t, state, path)
	require.Less(t, line, int64(len(lines)), "the crash came before the end of the backlog")
	var seenBytes, longest int64
	for i, l := range lines {
		if int64(i) < seen {
			seenBytes += int64(len(l)) + 1
		}
		longest = max(longest, int64(len(l))+1)
	}
	t.Logf("killed after %d of %d lines were seen read; checkpoint at line %d, byte %d (%d bytes behind)",
		seen, len(lines), line, offset, seenBytes-offset)
	require.LessOrEqual(t, seenBytes-offset, int64(tail.DefaultCheckpointBytes)+longest,
		"bytes read before the crash (%d lines) past the checkpoint (%d lines)", seen, line)
	return seen
}

// TestCrashMidBacklog kills the collector with SIGKILL while it reads a 120,000-line backlog and
// starts it again on the same state file: the second process reads exactly the lines after the
// checkpoint, so nothing is lost, and what both processes count twice is bounded by the
// checkpoint volume, not by how fast the first one read.
func TestCrashMidBacklog(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, podLog)
	state := filepath.Join(t.TempDir(), "positions.json")
	lines := bookinfo(120_000, 10)
	appendLines(t, path, lines)

	killMidBacklog(t, state, path, lines)
	_, line := checkpointOf(t, state, path)

	p := startRun(t, nil, crashArgs(state, filepath.Join(dir, "*.log"))...)
	var e expect
	e.add(lines[line:])
	p.waitMetrics(t, "the rest of the backlog", 60*time.Second, reached("file", e))
	settle(t, p, "file", e)
	p.stop(t)
}

// TestCrashThenRotation kills the collector mid-backlog; while it is down, more lines are
// appended to the file, the file is renamed away (to a name the pattern does not match, as
// kubelet rotates 0.log) and a new file is written at its path. The restarted collector reads
// the rotated file from its checkpoint to its end, then the new file: nothing lost in either.
func TestCrashThenRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, podLog)
	state := filepath.Join(t.TempDir(), "positions.json")
	lines := bookinfo(120_000+3_000+2_000, 11)
	old, later, fresh := lines[:120_000], lines[120_000:123_000], lines[123_000:]
	appendLines(t, path, old)

	killMidBacklog(t, state, path, old)
	_, line := checkpointOf(t, state, path)

	appendLines(t, path, later)
	require.NoError(t, os.Rename(path, path+".20261202-101500"))
	appendLines(t, path, fresh)

	p := startRun(t, nil, crashArgs(state, filepath.Join(dir, "*.log"))...)
	var e expect
	e.add(old[line:])
	e.add(later)
	e.add(fresh)
	p.waitMetrics(t, "the rotated file's rest and the new file", 60*time.Second, reached("file", e))
	settle(t, p, "file", e)
	m := p.scrape(t)
	require.Equal(t, 1.0, m.sum("fallbackwatch_file_rotations_total", "kind", "rename"))
	p.stop(t)
}
