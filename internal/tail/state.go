package tail

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

const stateVersion = 1

// position is one checkpoint record of the state file.
type position struct {
	Path           string `json:"path"` // for humans; identity is Dev, Inode and Fingerprint
	Dev            uint64 `json:"dev"`
	Inode          uint64 `json:"inode"`
	Fingerprint    string `json:"fingerprint"`     // hex of SHA-256 (first 16 bytes) of the first FingerprintLen bytes
	FingerprintLen int    `json:"fingerprint_len"` // bytes covered: min(FingerprintBytes, file size)
	Offset         int64  `json:"offset"`          // a safe position: the start of a line
	Line           int64  `json:"line"`            // lines before Offset, as counted by the tailer
}

type state struct {
	Version int        `json:"version"`
	Files   []position `json:"files"`
}

// load reads the state file into t.known and decides whether this is the very first start.
func (t *Tailer) load() {
	if t.cfg.StateFile == "" {
		t.firstStart = true
		return
	}
	st, err := readState(t.cfg.StateFile)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		t.firstStart = true
		t.log.Info("no state file yet; first start", "state_file", t.cfg.StateFile, "start_at_end", t.cfg.StartAtEnd)
		return
	case err != nil:
		t.firstStart = true
		t.log.Error("cannot use state file; starting as on a first start", "err", err, "start_at_end", t.cfg.StartAtEnd)
		return
	}
	for _, p := range st.Files {
		t.known[fileKey{dev: p.Dev, ino: p.Inode}] = p
	}
	t.log.Info("loaded file positions", "state_file", t.cfg.StateFile, "files", len(st.Files))
}

func readState(path string) (state, error) {
	var st state
	data, err := os.ReadFile(path)
	if err != nil {
		return st, fmt.Errorf("read state file %q: %w", path, err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil {
		return st, fmt.Errorf("decode state file %q: %w", path, err)
	}
	if st.Version != stateVersion {
		return st, fmt.Errorf("state file %q: version %d, want %d", path, st.Version, stateVersion)
	}
	for i, p := range st.Files {
		if p.Offset < 0 || p.Line < 0 || p.FingerprintLen < 0 || p.FingerprintLen > FingerprintBytes {
			return st, fmt.Errorf("state file %q: files[%d] (%q): negative or out-of-range field", path, i, p.Path)
		}
	}
	return st, nil
}

// save writes the safe positions of open files and the remembered positions of files let go.
func (t *Tailer) save() error {
	st := state{Version: stateVersion, Files: make([]position, 0, len(t.files)+len(t.known))}
	for _, f := range t.files {
		st.Files = append(st.Files, position{
			Path: f.path, Dev: f.key.dev, Inode: f.key.ino,
			Fingerprint: hashHead(f.head), FingerprintLen: len(f.head),
			Offset: f.safeOff, Line: f.safeLine,
		})
	}
	for _, p := range t.known {
		st.Files = append(st.Files, p)
	}
	slices.SortFunc(st.Files, func(a, b position) int {
		if c := strings.Compare(a.Path, b.Path); c != 0 {
			return c
		}
		if a.Dev != b.Dev {
			return cmpU(a.Dev, b.Dev)
		}
		return cmpU(a.Inode, b.Inode)
	})
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("encode file positions: %w", err)
	}
	if err := writeAtomic(t.cfg.StateFile, append(data, '\n')); err != nil {
		return err
	}
	t.lastSave.Store(time.Now().UnixNano())
	return nil
}

func cmpU(a, b uint64) int {
	if a < b {
		return -1
	}
	return 1
}

// writeAtomic replaces path with data: a temporary file in the same directory is written,
// synced and renamed over path, then the directory is synced.
func writeAtomic(path string, data []byte) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("write state file %q: %w", path, err)
	}
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write state file %q: %w", path, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory of state file %q: %w", path, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory of state file %q: %w", path, err)
	}
	return nil
}
