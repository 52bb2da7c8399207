//go:build unix

package tail

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

func TestRenameRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.log")
	appendFile(t, path, numbered("old", 1, 100))
	rec := &recorder{dir: dir}
	cfg := fastConfig(dir, "*.log")
	cfg.RotateWait = time.Second
	r := start(t, cfg, rec)
	waitEvents(t, rec, 101)

	// As kubelet rotates: rename, create the new file, and only then does the writer reopen; it
	// writes a little more to its old descriptor meanwhile, ending with an unterminated line.
	w, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	_, err = w.WriteString(numbered("old", 101, 150))
	require.NoError(t, err)
	require.NoError(t, os.Rename(path, path+".1"))
	appendFile(t, path, numbered("new", 1, 30))
	waitFor(t, "rotation noticed", func() bool { return rotations(r, "rename") == 1 })
	time.Sleep(50 * time.Millisecond) // ten polls: the old file must still be held (RotateWait)
	_, err = w.WriteString(numbered("old", 151, 160) + "old-tail")
	require.NoError(t, err)
	require.NoError(t, w.Close())

	got := waitEvents(t, rec, 1+161+2+30)
	want := concat(
		[]string{"open a.log"},
		lineEvents("a.log", "old", 1, 160, 1),
		[]string{"line a.log 161 old-tail", "close a.log", "open a.log"},
		lineEvents("a.log", "new", 1, 30, 1),
	)
	require.Equal(t, want, got)
	require.Equal(t, 1.0, rotations(r, "rename"))
	require.Equal(t, 0.0, rotations(r, "copytruncate"))
	require.Equal(t, 1.0, testutil.ToFloat64(r.t.m.tracked))
}

// TestRotatedNameAlsoMatched: a glob that matches the rotated name too must not read the
// rotated file again (loki#2353).
func TestRotatedNameAlsoMatched(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.log")
	appendFile(t, path, numbered("old", 1, 20))
	rec := &recorder{dir: dir}
	r := start(t, fastConfig(dir, "a.log*"), rec)
	waitEvents(t, rec, 21)
	require.NoError(t, os.Rename(path, path+".1"))
	appendFile(t, path, numbered("new", 1, 5))
	waitEvents(t, rec, 1+20+2+5)
	// Several rescans later, a.log.1 was picked up again at its end: nothing re-read.
	appendFile(t, path+".1", "late\n")
	waitEvents(t, rec, 1+20+2+5+2)
	time.Sleep(100 * time.Millisecond)
	require.Equal(t, map[string][]string{
		"a.log": concat(
			[]string{"open a.log"},
			lineEvents("a.log", "old", 1, 20, 1),
			[]string{"close a.log", "open a.log"},
			lineEvents("a.log", "new", 1, 5, 1),
		),
		"a.log.1": {"open a.log.1", "line a.log.1 21 late"},
	}, byFile(rec.all()))
	require.Equal(t, 1.0, rotations(r, "rename"))
}

func TestCopyTruncate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.log")
	appendFile(t, path, numbered("old", 1, 50)+"old-tail")
	rec := &recorder{dir: dir}
	r := start(t, fastConfig(dir, "*.log"), rec)
	waitEvents(t, rec, 51)

	data, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path+".1", data, 0o644))
	require.NoError(t, os.Truncate(path, 0))
	waitFor(t, "truncation", func() bool { return testutil.ToFloat64(r.t.m.truncations) == 1 })
	appendFile(t, path, numbered("new", 1, 20))

	got := waitEvents(t, rec, 1+51+2+20)
	require.Equal(t, concat(
		[]string{"open a.log"},
		lineEvents("a.log", "old", 1, 50, 1),
		[]string{"line a.log 51 old-tail", "close a.log", "open a.log"},
		lineEvents("a.log", "new", 1, 20, 1),
	), got)
	require.Equal(t, 1.0, rotations(r, "copytruncate"))
	require.Equal(t, 0.0, rotations(r, "rename"))
}

// TestTruncateAndRewrite: the file is truncated and rewritten longer than before between two
// polls; its changed first bytes give it away before anything is read past the old offset.
func TestTruncateAndRewrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.log")
	appendFile(t, path, numbered("old", 1, 10))
	rec := &recorder{dir: dir}
	r := start(t, fastConfig(dir, "*.log"), rec)
	waitEvents(t, rec, 11)
	// One write(2) of the whole new content after O_TRUNC.
	require.NoError(t, os.WriteFile(path, []byte(numbered("new", 1, 40)), 0o644))
	got := waitEvents(t, rec, 11+2+40)
	require.Equal(t, concat(
		[]string{"open a.log"},
		lineEvents("a.log", "old", 1, 10, 1),
		[]string{"close a.log", "open a.log"},
		lineEvents("a.log", "new", 1, 40, 1),
	), got)
	require.Equal(t, 1.0, testutil.ToFloat64(r.t.m.truncations))
}

func TestDelete(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.log")
	appendFile(t, path, numbered("l", 1, 20)+"last")
	rec := &recorder{dir: dir}
	r := start(t, fastConfig(dir, "*.log"), rec)
	waitEvents(t, rec, 21)
	require.NoError(t, os.Remove(path))
	got := waitEvents(t, rec, 23)
	require.Equal(t, concat(
		[]string{"open a.log"},
		lineEvents("a.log", "l", 1, 20, 1),
		[]string{"line a.log 21 last", "close a.log"},
	), got)
	waitFor(t, "no file tracked", func() bool { return testutil.ToFloat64(r.t.m.tracked) == 0 })
	require.Equal(t, 0.0, rotations(r, "rename"))
}

func TestRestartFromCheckpoint(t *testing.T) {
	dir := t.TempDir()
	logs := filepath.Join(dir, "logs")
	require.NoError(t, os.Mkdir(logs, 0o755))
	a := filepath.Join(logs, "a.log")
	b := filepath.Join(logs, "b.log")
	cfg := fastConfig(dir, "logs/*.log")
	cfg.StateFile = filepath.Join(dir, "positions.json")
	cfg.CheckpointInterval = time.Hour // only the save on shutdown counts here

	appendFile(t, a, numbered("a", 1, 100)+"a-part")
	appendFile(t, b, numbered("b", 1, 10))
	rec1 := &recorder{dir: logs}
	r1 := start(t, cfg, rec1)
	waitFor(t, "first run", func() bool { return len(rec1.lines()) == 110 })
	r1.stop(t)

	// While stopped: a's unterminated line is finished and more lines are added; b is rotated
	// away by rename and a new b.log created; c.log appears.
	appendFile(t, a, "-done\n"+numbered("a", 102, 150))
	require.NoError(t, os.Rename(b, b+".1"))
	appendFile(t, b, numbered("b2", 1, 5))
	appendFile(t, filepath.Join(logs, "c.log"), numbered("c", 1, 3))

	rec2 := &recorder{dir: logs}
	cfg.StartAtEnd = true // must not apply: a state file exists at the restart
	start(t, cfg, rec2)
	waitFor(t, "second run", func() bool { return len(rec2.lines()) == 50+5+3 })
	require.Equal(t, map[string][]string{
		"a.log": concat([]string{"open a.log", "line a.log 101 a-part-done"}, lineEvents("a.log", "a", 102, 150, 102)),
		"b.log": concat([]string{"open b.log"}, lineEvents("b.log", "b2", 1, 5, 1)),
		"c.log": concat([]string{"open c.log"}, lineEvents("c.log", "c", 1, 3, 1)),
	}, byFile(rec2.all()))

	// No line lost, none twice, over both runs.
	all := append(rec1.lines(), rec2.lines()...)
	seen := map[string]int{}
	for _, l := range all {
		seen[l]++
	}
	for l, n := range seen {
		require.Equal(t, 1, n, "line %q delivered %d times", l, n)
	}
	require.Len(t, all, 100+10+50+5+3)
}

// TestRestartAtSafePosition: lines the consumer did not call safe are read again after a
// restart, and nothing before them is.
func TestRestartAtSafePosition(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.log")
	cfg := fastConfig(dir, "*.log")
	cfg.StateFile = filepath.Join(dir, "positions.json")
	safe := func(l string) bool { return !strings.HasPrefix(l, "P ") }

	appendFile(t, path, "F one\nP two-a\nF two-b\nP three-a\nP three-b\n")
	rec1 := &recorder{dir: dir, safe: safe}
	r1 := start(t, cfg, rec1)
	waitEvents(t, rec1, 6)
	r1.stop(t)
	st, err := readState(cfg.StateFile)
	require.NoError(t, err)
	require.Len(t, st.Files, 1)
	require.Equal(t, int64(len("F one\nP two-a\nF two-b\n")), st.Files[0].Offset, "checkpoint of the first run")
	require.Equal(t, int64(3), st.Files[0].Line)
	raw, err := os.ReadFile(cfg.StateFile)
	require.NoError(t, err)
	var doc struct {
		Files []map[string]any `json:"files"`
	}
	require.NoError(t, json.Unmarshal(raw, &doc))
	require.Len(t, doc.Files, 1)
	for _, k := range []string{"path", "dev", "inode", "fingerprint", "fingerprint_len", "offset", "line"} {
		require.Contains(t, doc.Files[0], k)
	}
	require.Equal(t, path, doc.Files[0]["path"])
	leftovers, err := filepath.Glob(filepath.Join(dir, ".positions.json.tmp-*"))
	require.NoError(t, err)
	require.Empty(t, leftovers, "temporary state files are renamed, never left")

	appendFile(t, path, "F three-c\n")
	rec2 := &recorder{dir: dir, safe: safe}
	start(t, cfg, rec2)
	got := waitEvents(t, rec2, 4)
	require.Equal(t, []string{"open a.log", "line a.log 4 P three-a", "line a.log 5 P three-b", "line a.log 6 F three-c"}, got)
}

// TestCheckpointIdentity writes a state file by hand for an existing file and checks where
// reading starts.
func TestCheckpointIdentity(t *testing.T) {
	content := numbered("l", 1, 10) // 10 lines of 4-5 bytes
	third := int64(len(numbered("l", 1, 3)))
	cases := []struct {
		name   string
		fp     string // content the fingerprint is taken of
		offset int64
		want   []string
	}{
		{name: "fingerprint matches: resume", fp: content, offset: third,
			want: lineEvents("a.log", "l", 4, 10, 4)},
		{name: "inode reused, other content: from the start", fp: "something else entirely\n", offset: third,
			want: lineEvents("a.log", "l", 1, 10, 1)},
		{name: "file shorter than checkpoint: from the start", fp: content, offset: 10_000,
			want: lineEvents("a.log", "l", 1, 10, 1)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "a.log")
			appendFile(t, path, content)
			fi, err := os.Stat(path)
			require.NoError(t, err)
			st := fi.Sys().(*syscall.Stat_t)
			fpLen := min(len(tc.fp), FingerprintBytes)
			s := state{Version: 1, Files: []position{{
				Path: path, Dev: uint64(st.Dev), Inode: st.Ino,
				Fingerprint: hashHead([]byte(tc.fp[:fpLen])), FingerprintLen: fpLen,
				Offset: tc.offset, Line: 3,
			}}}
			data, err := json.Marshal(s)
			require.NoError(t, err)
			cfg := fastConfig(dir, "*.log")
			cfg.StateFile = filepath.Join(dir, "positions.json")
			require.NoError(t, os.WriteFile(cfg.StateFile, data, 0o644))

			rec := &recorder{dir: dir}
			start(t, cfg, rec)
			got := waitEvents(t, rec, 1+len(tc.want))
			time.Sleep(50 * time.Millisecond)
			require.Equal(t, append([]string{"open a.log"}, tc.want...), rec.all(), "first events %v", got)
		})
	}
}

func TestStartPosition(t *testing.T) {
	cases := []struct {
		name       string
		startAtEnd bool
		stateFile  string // "" none, "missing", "corrupt"
		want       []string
	}{
		{name: "beginning", want: concat(lineEvents("a.log", "l", 1, 5, 1), []string{"line a.log 6 tail-end"}, lineEvents("a.log", "m", 1, 2, 7))},
		{name: "end, no state file", startAtEnd: true,
			want: concat([]string{"line a.log 1 tail-end"}, lineEvents("a.log", "m", 1, 2, 2))},
		{name: "end, first start with a state file path", startAtEnd: true, stateFile: "missing",
			want: concat([]string{"line a.log 1 tail-end"}, lineEvents("a.log", "m", 1, 2, 2))},
		{name: "end, corrupt state file", startAtEnd: true, stateFile: "corrupt",
			want: concat([]string{"line a.log 1 tail-end"}, lineEvents("a.log", "m", 1, 2, 2))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "a.log")
			appendFile(t, path, numbered("l", 1, 5)+"tail")
			cfg := fastConfig(dir, "*.log")
			cfg.StartAtEnd = tc.startAtEnd
			switch tc.stateFile {
			case "missing":
				cfg.StateFile = filepath.Join(dir, "positions.json")
			case "corrupt":
				cfg.StateFile = filepath.Join(dir, "positions.json")
				require.NoError(t, os.WriteFile(cfg.StateFile, []byte(`{"version":1,"files":[{"offst":3}]}`), 0o644))
			}
			rec := &recorder{dir: dir}
			start(t, cfg, rec)
			waitEvents(t, rec, 1)
			appendFile(t, path, "-end\n"+numbered("m", 1, 2))
			got := waitEvents(t, rec, 1+len(tc.want))
			require.Equal(t, append([]string{"open a.log"}, tc.want...), got)

			// A file that appears later is read from its beginning whatever StartAtEnd says.
			appendFile(t, filepath.Join(dir, "b.log"), numbered("b", 1, 2))
			got = waitEvents(t, rec, 1+len(tc.want)+3)
			require.Equal(t, concat([]string{"open b.log"}, lineEvents("b.log", "b", 1, 2, 1)), got[1+len(tc.want):])
		})
	}
}

func TestRescanFindsNewFilesAndIgnoresOthers(t *testing.T) {
	dir := t.TempDir()
	rec := &recorder{dir: dir}
	cfg := fastConfig(dir, "*.log", "missing.txt")
	cfg.StartAtEnd = true
	r := start(t, cfg, rec)
	require.Empty(t, rec.all())

	// Matches that are not regular files: a directory, a FIFO, a dangling symlink.
	require.NoError(t, os.Mkdir(filepath.Join(dir, "dir.log"), 0o755))
	require.NoError(t, syscall.Mkfifo(filepath.Join(dir, "fifo.log"), 0o644))
	require.NoError(t, os.Symlink(filepath.Join(dir, "nowhere"), filepath.Join(dir, "dangling.log")))
	// A symlink and its target: followed once.
	appendFile(t, filepath.Join(dir, "real.log"), numbered("r", 1, 3))
	require.NoError(t, os.Symlink(filepath.Join(dir, "real.log"), filepath.Join(dir, "link.log")))

	got := waitEvents(t, rec, 4)
	time.Sleep(100 * time.Millisecond) // several rescans: nothing more may come
	got = rec.all()
	require.Equal(t, concat([]string{"open link.log"}, lineEvents("link.log", "r", 1, 3, 1)), got)
	require.Equal(t, 1.0, testutil.ToFloat64(r.t.m.tracked))
}

func TestLineReachesHandlerWhileRunning(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.log")
	appendFile(t, path, "")
	rec := &recorder{dir: dir}
	start(t, fastConfig(dir, "*.log"), rec)
	for i := 1; i <= 5; i++ {
		appendFile(t, path, "x\r\n")
		waitFor(t, "line", func() bool { return len(rec.lines()) == i })
	}
	appendFile(t, path, "unterminated")
	time.Sleep(50 * time.Millisecond)
	require.Len(t, rec.lines(), 5, "an unterminated line waits for its newline")
}

func TestNewValidates(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		h    Handler
		want []string
	}{
		{name: "everything wrong", cfg: Config{
			Patterns: []string{"", "/var/log/[x"}, StateFile: "/nonexistent/dir/state.json",
			PollInterval: -1, RescanInterval: -1, CheckpointInterval: -1, RotateWait: -1, MaxLineBytes: -1,
			CheckpointBytes: -1,
		}, want: []string{"checkpoint bytes -1 is negative", "pattern 0 is empty", `pattern 1 "/var/log/[x": syntax error`,
			"poll interval -1ns is negative", "rescan interval", "checkpoint interval", "rotate wait",
			"max line bytes -1", `state file "/nonexistent/dir/state.json"`, "nil handler"}},
		{name: "no patterns", cfg: Config{}, h: &recorder{}, want: []string{"no file patterns"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg, tc.h)
			require.Error(t, err)
			for _, w := range tc.want {
				require.ErrorContains(t, err, w)
			}
		})
	}
	tl, err := New(Config{Patterns: []string{"/var/log/containers/*.log"}}, &recorder{})
	require.NoError(t, err)
	require.Equal(t, DefaultPollInterval, tl.cfg.PollInterval)
	require.Equal(t, DefaultRescanInterval, tl.cfg.RescanInterval)
	require.Equal(t, DefaultCheckpointInterval, tl.cfg.CheckpointInterval)
	require.Equal(t, DefaultMaxLineBytes, tl.cfg.MaxLineBytes)
	require.Equal(t, int64(4<<20), tl.cfg.CheckpointBytes, "4 MiB between checkpoints")
	require.False(t, tl.Ready())
}
