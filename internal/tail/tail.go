package tail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fallbackwatch/fallbackwatch/parse"
)

// Defaults applied by New to zero fields of Config.
const (
	DefaultPollInterval       = 100 * time.Millisecond
	DefaultRescanInterval     = 5 * time.Second
	DefaultCheckpointInterval = 5 * time.Second
	DefaultRotateWait         = 500 * time.Millisecond
	DefaultMaxLineBytes       = parse.DefaultMaxLine
	// DefaultCheckpointBytes is how many bytes may be read between two checkpoints: what a
	// crash can make the next start read again is bounded by it, however fast lines come.
	DefaultCheckpointBytes = 4 << 20
)

// FingerprintBytes is how many leading bytes of a file its fingerprint covers (fewer while the
// file is shorter).
const FingerprintBytes = 1024

// readBudget is how many bytes one file may read before the other files get their turn.
const readBudget = 1 << 20

// Config configures a Tailer. Zero durations and sizes take the defaults above.
type Config struct {
	Patterns           []string      // paths or globs (filepath.Match syntax)
	StateFile          string        // "" = no checkpoints
	PollInterval       time.Duration // default 100ms
	RescanInterval     time.Duration // default 5s
	CheckpointInterval time.Duration // default 5s (also saved when Run returns)
	// CheckpointBytes saves positions also whenever that many bytes were read since the last
	// save, so that a backlog read in one go is checkpointed as it is read; default 4 MiB.
	CheckpointBytes int64
	// RotateWait is how long a file whose path moved away (rename rotation, deletion) is still
	// read before it is drained to its end and let go; default 500ms.
	RotateWait time.Duration
	// StartAtEnd chooses where files found by the first scan of the very first start (no state
	// file yet) begin when they have no checkpoint: at their end (true) or beginning (false).
	// Files that appear later are always read from the beginning. See the package doc.
	StartAtEnd bool
	// MaxLineBytes caps a line (without its "\r\n"); longer lines are skipped, reported via
	// Handler.TooLong, and reading continues after their newline. Default 1 MiB.
	MaxLineBytes int
	Logger       *slog.Logger          // default: discard
	Registerer   prometheus.Registerer // may be nil
}

// Validate reports every problem of the configuration, defaults not applied.
func (c Config) Validate() error {
	var errs []error
	if len(c.Patterns) == 0 {
		errs = append(errs, errors.New("no file patterns"))
	}
	for i, p := range c.Patterns {
		if p == "" {
			errs = append(errs, fmt.Errorf("pattern %d is empty", i))
			continue
		}
		if _, err := filepath.Match(p, ""); err != nil {
			errs = append(errs, fmt.Errorf("pattern %d %q: %w", i, p, err))
		}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"poll interval", c.PollInterval},
		{"rescan interval", c.RescanInterval},
		{"checkpoint interval", c.CheckpointInterval},
		{"rotate wait", c.RotateWait},
	} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s %v is negative", d.name, d.v))
		}
	}
	if c.CheckpointBytes < 0 {
		errs = append(errs, fmt.Errorf("checkpoint bytes %d is negative", c.CheckpointBytes))
	}
	if c.MaxLineBytes < 0 {
		errs = append(errs, fmt.Errorf("max line bytes %d is negative", c.MaxLineBytes))
	}
	if c.StateFile != "" {
		dir := filepath.Dir(c.StateFile)
		if fi, err := os.Stat(dir); err != nil {
			errs = append(errs, fmt.Errorf("state file %q: directory: %w", c.StateFile, err))
		} else if !fi.IsDir() {
			errs = append(errs, fmt.Errorf("state file %q: %q is not a directory", c.StateFile, dir))
		}
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	if c.PollInterval == 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.RescanInterval == 0 {
		c.RescanInterval = DefaultRescanInterval
	}
	if c.CheckpointInterval == 0 {
		c.CheckpointInterval = DefaultCheckpointInterval
	}
	if c.RotateWait == 0 {
		c.RotateWait = DefaultRotateWait
	}
	if c.CheckpointBytes == 0 {
		c.CheckpointBytes = DefaultCheckpointBytes
	}
	if c.MaxLineBytes == 0 {
		c.MaxLineBytes = DefaultMaxLineBytes
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// LineFunc receives one complete line (without "\n"; "\r\n" handled) and its 1-based line number
// in the file as this tailer counted it. data is valid only during the call. It returns true when
// the position after this line is a safe resume point (false while the consumer holds an
// unfinished multi-line record, e.g. a CRI partial 'P' fragment); checkpoints only ever store safe
// positions.
type LineFunc func(data []byte, lineNo int64) (safe bool)

// Handler receives what the Tailer reads. All calls come from the goroutine running Run.
type Handler interface {
	// Open is called when a new file (or a new generation after rotation or truncation) begins.
	Open(path string) LineFunc
	// TooLong reports a line of n bytes, over MaxLineBytes, that was skipped.
	TooLong(path string, lineNo int64, n int)
	// Close is called when the file was let go (deleted or rotated away, and drained) or a
	// generation ended (truncation). It is not called when Run returns.
	Close(path string)
}

// Tailer follows the files matched by Config.Patterns. Create it with New; Run it once.
type Tailer struct {
	cfg     Config
	h       Handler
	log     *slog.Logger
	m       *metrics
	maxBuf  int // MaxLineBytes plus room for "\r\n"
	initBuf int
	scratch []byte // FingerprintBytes, for sameContent

	files   []*file // open files, in the order they were opened
	byKey   map[fileKey]*file
	byPath  map[string]*file
	known   map[fileKey]position // positions of files not open (checkpoints, files let go)
	openErr map[string]string    // last error logged per path, to log each problem once

	firstStart bool
	sinceSave  int64 // bytes read since positions were last saved (or since the start)
	started    atomic.Bool
	ready      atomic.Bool
	lastSave   atomic.Int64 // unix nanoseconds
}

// New validates cfg, applies defaults and registers the metrics on cfg.Registerer.
func New(cfg Config, h Handler) (*Tailer, error) {
	err := cfg.Validate()
	if h == nil {
		err = errors.Join(err, errors.New("nil handler"))
	}
	if !identitySupported {
		err = errors.Join(err, errors.New("file identity (device, inode) is not available on this system"))
	}
	if err != nil {
		return nil, fmt.Errorf("tail: invalid config: %w", err)
	}
	cfg = cfg.withDefaults()
	t := &Tailer{
		cfg:     cfg,
		h:       h,
		log:     cfg.Logger,
		maxBuf:  cfg.MaxLineBytes + 2,
		initBuf: min(64<<10, cfg.MaxLineBytes+2),
		scratch: make([]byte, FingerprintBytes),
		byKey:   map[fileKey]*file{},
		byPath:  map[string]*file{},
		known:   map[fileKey]position{},
		openErr: map[string]string{},
	}
	t.lastSave.Store(time.Now().UnixNano())
	t.m = newMetrics(t)
	if cfg.Registerer != nil {
		if err := t.m.register(cfg.Registerer); err != nil {
			return nil, fmt.Errorf("tail: register metrics: %w", err)
		}
	}
	return t, nil
}

// Ready reports whether the first scan has run and opened the files it found.
func (t *Tailer) Ready() bool { return t.ready.Load() }

// Run follows the files until ctx is done. It returns after the positions of all open files
// were checkpointed, with the error of that last save if any; a Tailer runs only once.
func (t *Tailer) Run(ctx context.Context) error {
	if !t.started.CompareAndSwap(false, true) {
		return errors.New("tail: Run called more than once")
	}
	t.load()
	t.lastSave.Store(time.Now().UnixNano())
	t.rescan(true)
	t.ready.Store(true)
	defer t.ready.Store(false)

	ticker := time.NewTicker(t.cfg.PollInterval)
	defer ticker.Stop()
	now := time.Now()
	nextRescan := now.Add(t.cfg.RescanInterval)
	nextSave := now.Add(t.cfg.CheckpointInterval)
	for {
		t.pollAll(ctx)
		now = time.Now()
		if !now.Before(nextRescan) {
			t.rescan(false)
			nextRescan = now.Add(t.cfg.RescanInterval)
		}
		if t.cfg.StateFile != "" && !now.Before(nextSave) {
			t.checkpoint()
			nextSave = now.Add(t.cfg.CheckpointInterval)
		}
		select {
		case <-ctx.Done():
			return t.stop()
		case <-ticker.C:
		}
	}
}

// checkpoint saves positions, logging a failure: the next checkpoint retries.
func (t *Tailer) checkpoint() {
	if err := t.save(); err != nil {
		t.log.Error("cannot save file positions; retrying", "err", err)
	}
	t.sinceSave = 0
}

// stop saves positions and closes every file without calling Handler.Close.
func (t *Tailer) stop() error {
	var err error
	if t.cfg.StateFile != "" {
		err = t.save()
	}
	for _, f := range t.files {
		f.fd.Close()
	}
	t.files = nil
	clear(t.byKey)
	clear(t.byPath)
	t.m.tracked.Set(0)
	if err != nil {
		return fmt.Errorf("tail: %w", err)
	}
	return nil
}

// match expands the patterns into a sorted list of distinct paths.
func (t *Tailer) match() []string {
	var paths []string
	for _, p := range t.cfg.Patterns {
		m, err := filepath.Glob(p)
		if err != nil { // validated in New; cannot happen
			t.log.Error("bad file pattern", "pattern", p, "err", err)
			continue
		}
		paths = append(paths, m...)
	}
	slices.Sort(paths)
	return slices.Compact(paths)
}

// rescan opens matched files that are not followed yet and forgets positions of files no
// matched path leads to any more.
func (t *Tailer) rescan(first bool) {
	if first {
		t.recoverRotated()
	}
	paths := t.match()
	seen := make(map[fileKey]bool, len(paths))
	for _, p := range paths {
		if f := t.byPath[p]; f != nil {
			seen[f.key] = true
			continue
		}
		fi, err := os.Stat(p)
		if err != nil {
			t.openFailed(p, err)
			continue
		}
		if !fi.Mode().IsRegular() {
			continue
		}
		k, ok := keyOf(fi)
		if !ok {
			continue
		}
		seen[k] = true
		if t.byKey[k] != nil {
			continue // the same file under another path
		}
		t.open(p, first)
	}
	for k := range t.known {
		if !seen[k] {
			delete(t.known, k)
		}
	}
	for p := range t.openErr {
		if _, found := slices.BinarySearch(paths, p); !found {
			delete(t.openErr, p)
		}
	}
	for _, f := range t.files {
		if f.bigLine && f.lr.Buffered() == 0 && f.lr.BytesRead() == f.lr.Offset() {
			// Give back the room a long line took: a new reader from the same place.
			line := f.baseLine + f.lr.Lines()
			lastSafe, safeOff, safeLine := f.lastSafe, f.safeOff, f.safeLine
			f.lr, f.bigLine = nil, false
			t.restart(f, f.lineOff, line)
			f.lastSafe, f.safeOff, f.safeLine = lastSafe, safeOff, safeLine
		}
	}
}

func (t *Tailer) openFailed(path string, err error) {
	msg := err.Error()
	if t.openErr[path] == msg {
		t.log.Debug("cannot open file; retrying at next scan", "path", path, "err", err)
		return
	}
	t.openErr[path] = msg
	t.log.Warn("cannot open file; retrying at next scan", "path", path, "err", err)
}

// open starts following path. first tells whether this is the first scan of Run.
func (t *Tailer) open(path string, first bool) {
	fd, err := os.Open(path)
	if err != nil {
		t.openFailed(path, err)
		return
	}
	fi, err := fd.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		fd.Close()
		return
	}
	var k fileKey
	ok := false
	if err == nil {
		k, ok = keyOf(fi)
	}
	if !ok || t.byKey[k] != nil {
		fd.Close()
		if err != nil {
			t.openFailed(path, err)
		}
		return
	}
	delete(t.openErr, path)
	t.follow(path, fd, k, fi.Size(), first)
}

// follow starts following the open file fd, known by k, under path: from its checkpoint when
// there is one for k, else from its beginning or, on the first scan of a first start with
// StartAtEnd, its end.
func (t *Tailer) follow(path string, fd *os.File, k fileKey, size int64, first bool) *file {
	f := &file{path: path, fd: fd, key: k, lastSafe: true}
	var start, line int64
	var skipping bool
	var skipN int
	how := "beginning"
	if pos, ok := t.known[k]; ok {
		delete(t.known, k)
		switch {
		case !fingerprintMatches(fd, pos):
			t.log.Info("file has a checkpoint for its inode but other content (inode reused); reading from the beginning",
				"path", path, "checkpoint_path", pos.Path)
		case pos.Offset > size:
			t.log.Info("file is shorter than its checkpoint (truncated); reading from the beginning",
				"path", path, "size", size, "offset", pos.Offset)
			t.m.truncations.Inc()
		default:
			start, line, how = pos.Offset, pos.Line, "checkpoint"
		}
	} else if first && t.firstStart && t.cfg.StartAtEnd {
		start, skipping, skipN = t.endOf(fd, size)
		how = "end"
	}
	t.restart(f, start, line)
	if skipping {
		f.skipOne, f.lineOff = true, start-int64(skipN)
	}
	f.head = readHead(fd, size)
	f.fn = t.h.Open(path)
	t.files = append(t.files, f)
	t.byKey[k] = f
	t.byPath[path] = f
	t.m.tracked.Inc()
	t.log.Debug("following file", "path", path, "dev", k.dev, "inode", k.ino, "from", how, "offset", start)
	return f
}

// recoverRotated finds, at the start of Run, the checkpointed files that were rotated away while
// the tailer was stopped. A checkpoint whose path now leads to another file, or to none, is
// looked for by device and inode in the directory of its path and in that of the path's symlink
// target (kubelet rotates /var/log/pods/<pod>/<container>/0.log, which /var/log/containers links
// to). A file found there with bytes past its checkpoint is drained from the checkpoint under
// the checkpoint's path, and then the file now at that path is opened: the order a rotation
// seen while running has.
func (t *Tailer) recoverRotated() {
	lost := map[string]map[fileKey]position{} // by directory
	for k, pos := range t.known {
		if fi, err := os.Stat(pos.Path); err == nil {
			if cur, ok := keyOf(fi); ok && cur == k {
				continue // still at its path: the scan finds it
			}
		}
		dirs := []string{filepath.Dir(pos.Path)}
		if real, err := filepath.EvalSymlinks(pos.Path); err == nil {
			dirs = append(dirs, filepath.Dir(real))
		}
		for _, d := range dirs {
			if lost[d] == nil {
				lost[d] = map[fileKey]position{}
			}
			lost[d][k] = pos
		}
	}
	for dir, want := range lost {
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range entries {
			if !e.Type().IsRegular() {
				continue
			}
			fi, err := e.Info()
			if err != nil {
				continue
			}
			k, ok := keyOf(fi)
			pos, found := want[k]
			if !ok || !found || t.byKey[k] != nil || t.byPath[pos.Path] != nil || fi.Size() <= pos.Offset {
				continue
			}
			name := filepath.Join(dir, e.Name())
			fd, err := os.Open(name)
			if err != nil {
				t.log.Warn("cannot open file rotated while stopped; its unread lines are lost", "path", name, "err", err)
				continue
			}
			if !fingerprintMatches(fd, pos) {
				fd.Close()
				continue
			}
			f := t.follow(pos.Path, fd, k, fi.Size(), false)
			f.gone, f.renamed, f.goneAt = true, true, time.Now().Add(-t.cfg.RotateWait)
			t.m.rotations.WithLabelValues("rename").Inc()
			t.log.Info("file was rotated while stopped; reading it from its checkpoint first",
				"path", pos.Path, "rotated_to", name, "offset", pos.Offset)
		}
	}
}

// endOf finds where a file read from its end begins: after its last complete line. If the last
// line is already longer than a line may be, reading starts at the end in skipping mode.
func (t *Tailer) endOf(fd *os.File, size int64) (start int64, skipping bool, skipN int) {
	lo := max(0, size-int64(t.maxBuf))
	buf := make([]byte, size-lo)
	n, _ := fd.ReadAt(buf, lo)
	buf = buf[:n]
	if i := lastNewline(buf); i >= 0 {
		return lo + int64(i) + 1, false, 0
	}
	if lo == 0 {
		return 0, false, 0
	}
	return lo + int64(n), true, n
}

// pollAll reads every open file to its end, taking turns, then checks where paths lead and lets
// go of files that moved away and are drained.
func (t *Tailer) pollAll(ctx context.Context) {
	pending := make([]*file, 0, len(t.files))
	for _, f := range t.files {
		f.atEOF = false
		if !f.gone {
			t.checkGeneration(f)
		}
		pending = append(pending, f)
	}
	for len(pending) > 0 && ctx.Err() == nil {
		next := pending[:0]
		for _, f := range pending {
			budget := readBudget
			if t.cfg.StateFile != "" {
				// Read no further than the next checkpoint, so that no more than CheckpointBytes
				// are ever read past the saved positions.
				budget = int(min(int64(budget), max(1, t.cfg.CheckpointBytes-t.sinceSave)))
			}
			eof, err := t.read(f, budget)
			if t.cfg.StateFile != "" && t.sinceSave >= t.cfg.CheckpointBytes {
				t.checkpoint()
			}
			if err != nil {
				t.log.Warn("cannot read file", "path", f.path, "err", err)
				continue
			}
			if eof {
				f.atEOF = true
			} else {
				next = append(next, f)
			}
		}
		pending = next
	}
	if ctx.Err() != nil {
		return
	}
	now := time.Now()
	for _, f := range slices.Clone(t.files) {
		if f.gone {
			if !f.renamed {
				t.checkReplaced(f)
			}
			if f.atEOF && now.Sub(f.goneAt) >= t.cfg.RotateWait {
				t.letGo(f)
			}
			continue
		}
		t.checkPath(f, now)
	}
}

// checkGeneration detects truncation by size: the file became shorter than what was read.
// Content replaced by as much or more is caught by sameContent when it is read.
func (t *Tailer) checkGeneration(f *file) {
	fi, err := f.fd.Stat()
	if err != nil {
		return
	}
	if size := fi.Size(); size < f.readOff {
		t.truncated(f, fmt.Sprintf("size %d is below read offset %d", size, f.readOff))
	}
}

// sameContent tells whether f still starts with the bytes it started with when it was opened,
// and extends the remembered first bytes while they are fewer than FingerprintBytes. It runs
// after each read and before the bytes read are delivered: if the file was truncated and
// rewritten in between, they belong to the new content and must not be.
func (t *Tailer) sameContent(f *file) bool {
	want := max(len(f.head), int(min(FingerprintBytes, f.readOff)))
	head := t.scratch[:want]
	n, _ := f.fd.ReadAt(head, 0)
	head = head[:n]
	if !bytes.HasPrefix(head, f.head) {
		return false
	}
	if len(head) > len(f.head) {
		f.head = append(f.head[:0:0], head...)
	}
	return true
}

// truncated ends the current generation of f and starts reading it again from offset 0.
func (t *Tailer) truncated(f *file, why string) {
	t.log.Info("file truncated (copytruncate rotation?); reading from the beginning", "path", f.path, "why", why)
	t.m.truncations.Inc()
	t.m.rotations.WithLabelValues("copytruncate").Inc()
	t.flush(f)
	t.h.Close(f.path)
	t.restart(f, 0, 0)
	fi, err := f.fd.Stat()
	f.head = nil
	if err == nil {
		f.head = readHead(f.fd, fi.Size())
	}
	f.fn = t.h.Open(f.path)
}

// checkPath notices when f's path no longer leads to f.
func (t *Tailer) checkPath(f *file, now time.Time) {
	fi, err := os.Stat(f.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		t.log.Debug("file removed; draining", "path", f.path)
	case err != nil:
		t.log.Debug("cannot stat path of followed file", "path", f.path, "err", err)
		return
	case !fi.Mode().IsRegular():
		t.log.Debug("path no longer leads to a regular file; draining", "path", f.path)
	default:
		k, ok := keyOf(fi)
		if !ok || k == f.key {
			return
		}
		t.log.Debug("file rotated; draining", "path", f.path)
		f.renamed = true
		t.m.rotations.WithLabelValues("rename").Inc()
	}
	f.gone = true
	f.goneAt = now
}

// checkReplaced counts a rename rotation once a file was seen at the path of a file that had
// been removed from it.
func (t *Tailer) checkReplaced(f *file) {
	fi, err := os.Stat(f.path)
	if err != nil || !fi.Mode().IsRegular() {
		return
	}
	if k, ok := keyOf(fi); ok && k != f.key {
		f.renamed = true
		t.m.rotations.WithLabelValues("rename").Inc()
	}
}

// letGo delivers the trailing fragment of a drained file, closes it, and opens the file that
// now sits at its path, if any.
func (t *Tailer) letGo(f *file) {
	t.flush(f)
	t.h.Close(f.path)
	f.fd.Close()
	t.files = slices.DeleteFunc(t.files, func(g *file) bool { return g == f })
	delete(t.byKey, f.key)
	delete(t.byPath, f.path)
	t.m.tracked.Dec()
	t.known[f.key] = position{
		Path: f.path, Dev: f.key.dev, Inode: f.key.ino,
		Fingerprint: hashHead(f.head), FingerprintLen: len(f.head),
		Offset: f.readOff, Line: f.baseLine + f.lr.Lines(),
	}
	t.log.Debug("let go of file", "path", f.path, "lines", f.baseLine+f.lr.Lines())

	fi, err := os.Stat(f.path)
	if err != nil || !fi.Mode().IsRegular() {
		return
	}
	if k, ok := keyOf(fi); ok && k != f.key && t.byKey[k] == nil {
		if !f.renamed {
			t.m.rotations.WithLabelValues("rename").Inc()
		}
		t.open(f.path, false)
	}
}
