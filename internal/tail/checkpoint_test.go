//go:build unix

package tail

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// stateWatcher is a Handler that, at every line, reads the state file and records how many
// lines were delivered past the saved position: what a crash at that moment would deliver again.
type stateWatcher struct {
	t         *testing.T
	stateFile string
	safe      func(line string) bool

	lines    atomic.Int64
	maxAhead int64 // most lines delivered past the saved position
}

func (w *stateWatcher) Open(string) LineFunc {
	return func(data []byte, lineNo int64) bool {
		w.lines.Store(lineNo)
		var saved int64
		if st, err := readState(w.stateFile); err == nil && len(st.Files) == 1 {
			saved = st.Files[0].Line
		}
		// The line being delivered is not counted yet when the LineFunc runs.
		w.maxAhead = max(w.maxAhead, lineNo-1-saved)
		return w.safe == nil || w.safe(string(data))
	}
}
func (w *stateWatcher) TooLong(string, int64, int) {}
func (w *stateWatcher) Close(string)               {}

// TestCheckpointByVolume: a backlog read in one poll is checkpointed every CheckpointBytes, so
// what a crash would deliver again is bounded by volume, not by how fast the lines were read.
// With no time-based save at all (CheckpointInterval of an hour), lines of 9 bytes and a
// checkpoint every 100 bytes, no more than 100/9+1 = 12 lines are ever past the saved position.
func TestCheckpointByVolume(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.log")
	var b strings.Builder
	for i := 1; i <= 2000; i++ {
		fmt.Fprintf(&b, "l-%06d\n", i) // 9 bytes
	}
	appendFile(t, path, b.String())
	cfg := fastConfig(dir, "*.log")
	cfg.StateFile = filepath.Join(dir, "positions.json")
	cfg.CheckpointInterval = time.Hour
	cfg.CheckpointBytes = 100
	w := &stateWatcher{t: t, stateFile: cfg.StateFile}
	r := start(t, cfg, w)
	waitFor(t, "backlog read", func() bool {
		st, err := readState(cfg.StateFile)
		return err == nil && len(st.Files) == 1 && st.Files[0].Line >= 1990
	})
	r.stop(t)
	require.Equal(t, int64(2000), w.lines.Load())
	require.LessOrEqual(t, w.maxAhead, int64(100/9+1), "lines delivered past the saved position")
	require.Greater(t, w.maxAhead, int64(0))
}

// TestCheckpointByVolumeKeepsSafePositions: a volume checkpoint, like any other, stores only a
// position the consumer called safe: inside a chain of unsafe lines it stays before the chain.
func TestCheckpointByVolumeKeepsSafePositions(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.log")
	var b strings.Builder
	for i := 1; i <= 300; i++ {
		fmt.Fprintf(&b, "P %05d\n", i) // 8 bytes, unsafe
	}
	b.WriteString("F done\n")
	appendFile(t, path, b.String())
	cfg := fastConfig(dir, "*.log")
	cfg.StateFile = filepath.Join(dir, "positions.json")
	cfg.CheckpointInterval = time.Hour
	cfg.CheckpointBytes = 64
	var offsets []int64
	w := &stateWatcher{t: t, stateFile: cfg.StateFile, safe: func(l string) bool {
		if st, err := readState(cfg.StateFile); err == nil && len(st.Files) == 1 {
			offsets = append(offsets, st.Files[0].Offset)
		}
		return !strings.HasPrefix(l, "P ")
	}}
	r := start(t, cfg, w)
	waitFor(t, "backlog read", func() bool { return w.lines.Load() == 301 })
	r.stop(t)
	require.NotEmpty(t, offsets, "volume checkpoints were saved while the chain was read")
	for _, o := range offsets {
		require.Equal(t, int64(0), o, "a checkpoint inside the unsafe chain")
	}
	st, err := readState(cfg.StateFile)
	require.NoError(t, err)
	require.Equal(t, int64(len(b.String())), st.Files[0].Offset)
}

// TestRotatedWhileStopped: a file renamed away while the tailer was stopped, after more lines
// were appended to it, is read from its checkpoint to its end, under its old path, before the
// new file at that path is opened; also when the pattern matches a symlink, as with kubelet's
// /var/log/containers links to /var/log/pods/<pod>/<container>/0.log.
func TestRotatedWhileStopped(t *testing.T) {
	for _, tc := range []struct {
		name    string
		link    bool
		rotated string
	}{
		{name: "plain file", rotated: "a.log.1"},
		{name: "symlinked file", link: true, rotated: "0.log.20261202-101500"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			logs := filepath.Join(dir, "logs")
			real := filepath.Join(dir, "pods", "p", "0.log")
			require.NoError(t, os.MkdirAll(filepath.Dir(real), 0o755))
			require.NoError(t, os.Mkdir(logs, 0o755))
			path := filepath.Join(logs, "a.log")
			if tc.link {
				require.NoError(t, os.Symlink(real, path))
			} else {
				real = path
			}
			cfg := fastConfig(dir, "logs/*.log")
			cfg.StateFile = filepath.Join(dir, "positions.json")
			appendFile(t, real, numbered("old", 1, 50))
			rec1 := &recorder{dir: logs}
			r1 := start(t, cfg, rec1)
			waitFor(t, "first run", func() bool { return len(rec1.lines()) == 50 })
			r1.stop(t)

			appendFile(t, real, numbered("old", 51, 70))
			require.NoError(t, os.Rename(real, filepath.Join(filepath.Dir(real), tc.rotated)))
			appendFile(t, real, numbered("new", 1, 5))

			rec2 := &recorder{dir: logs}
			r2 := start(t, cfg, rec2)
			got := waitEvents(t, rec2, 1+20+2+5)
			require.Equal(t, concat(
				[]string{"open a.log"},
				lineEvents("a.log", "old", 51, 70, 51),
				[]string{"close a.log", "open a.log"},
				lineEvents("a.log", "new", 1, 5, 1),
			), got)
			require.Equal(t, 1.0, rotations(r2, "rename"))
		})
	}
}

// TestLongLineRoomGivenBack: after a line much longer than usual, a rescan gives the reader's
// grown buffer back by starting a new reader where the old one stood; numbering and checkpoints
// go on as if nothing happened.
func TestLongLineRoomGivenBack(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.log")
	long := strings.Repeat("x", 200<<10)
	appendFile(t, path, long+"\na\n")
	cfg := fastConfig(dir, "*.log")
	cfg.StateFile = filepath.Join(dir, "positions.json")
	rec := &recorder{dir: dir}
	r := start(t, cfg, rec)
	waitEvents(t, rec, 3)
	time.Sleep(100 * time.Millisecond) // several rescans
	appendFile(t, path, "b\n")
	got := waitEvents(t, rec, 4)
	r.stop(t)
	require.Equal(t, []string{"open a.log", "line a.log 1 " + long, "line a.log 2 a", "line a.log 3 b"}, got)
	st, err := readState(cfg.StateFile)
	require.NoError(t, err)
	require.Equal(t, int64(len(long)+len("\na\nb\n")), st.Files[0].Offset)
	require.Equal(t, int64(3), st.Files[0].Line)
}
