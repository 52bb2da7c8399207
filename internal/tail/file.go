package tail

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"time"

	"github.com/fallbackwatch/fallbackwatch/parse"
)

type fileKey struct{ dev, ino uint64 }

// file is one open file being followed.
type file struct {
	path string
	fd   *os.File
	key  fileKey
	head []byte // the first min(FingerprintBytes, size) bytes, for the fingerprint
	fn   LineFunc

	lr       *parse.LineReader // splits what src reads into lines
	src      source
	baseOff  int64 // file offset where lr started reading
	baseLine int64 // lines before baseOff
	lineOff  int64 // file offset where the next line starts
	readOff  int64 // file offset of the end of what was read
	lastSafe bool  // what the last delivered line's LineFunc returned
	safeOff  int64 // the last safe resume position
	safeLine int64 // line number at safeOff
	skipOne  bool  // the first line began before the start and is over the cap (StartAtEnd)
	bigLine  bool  // a line over initBuf made lr's buffer grow

	atEOF   bool // the last read reached the end of the file
	gone    bool // the path no longer leads here: drain, then let go
	goneAt  time.Time
	renamed bool // the rotation was counted
}

// errBudget and errReplaced end a read early: the read budget is spent, or the file's first
// bytes changed under the reader (truncated and rewritten).
var (
	errBudget   = errors.New("read budget spent")
	errReplaced = errors.New("first bytes changed")
)

// source is what a file's LineReader reads: the file from readOff on, at most budget bytes per
// read call, with the content check of Tailer.sameContent after each read.
type source struct {
	t      *Tailer
	f      *file
	budget int
	ended  bool // the generation is over: no more bytes, deliver what is buffered
}

func (s *source) Read(p []byte) (int, error) {
	f := s.f
	if s.ended {
		return 0, io.EOF
	}
	if s.budget <= 0 {
		return 0, errBudget
	}
	if len(p) > s.budget {
		p = p[:s.budget]
	}
	n, err := f.fd.ReadAt(p, f.readOff)
	if n > 0 {
		f.readOff += int64(n)
		s.t.sinceSave += int64(n)
		s.budget -= n
		if !f.gone && !s.t.sameContent(f) {
			// Truncated and rewritten since the last look: what was just read is new content.
			return 0, errReplaced
		}
	}
	if err == io.EOF {
		return n, io.EOF
	}
	return n, err
}

// restart makes f read from file offset off, which is the start of line line+1.
func (t *Tailer) restart(f *file, off, line int64) {
	if f.lr == nil {
		f.src = source{t: t, f: f}
		f.lr = parse.NewLineReader(&f.src, t.cfg.MaxLineBytes)
		f.lr.HoldFinal(true)
	} else {
		f.lr.Reset(&f.src)
	}
	f.src.ended = false
	f.baseOff, f.baseLine, f.lineOff, f.readOff = off, line, off, off
	f.safeOff, f.safeLine = off, line
	f.lastSafe = true
	f.skipOne = false
}

// read reads up to budget bytes from f and delivers the complete lines among them. It reports
// whether the end of the file was reached.
func (t *Tailer) read(f *file, budget int) (eof bool, err error) {
	f.src.budget = budget
	for {
		switch err := t.deliver(f, true); err {
		case io.EOF:
			return true, nil
		case errBudget:
			return false, nil
		case errReplaced:
			t.truncated(f, "first bytes changed")
		default:
			return false, err
		}
	}
}

// deliver hands the lines f's LineReader returns to the handler until it returns an error, and
// returns that error. terminated tells whether the lines end with '\n'.
func (t *Tailer) deliver(f *file, terminated bool) error {
	for {
		b, err := f.lr.Next()
		switch {
		case err == nil:
			t.line(f, b, false, terminated)
		case isTooLong(err):
			t.line(f, nil, true, terminated)
		default:
			return err
		}
	}
}

// isTooLong tells whether the LineReader skipped a line over the cap.
func isTooLong(err error) bool {
	var e *parse.Error
	return errors.As(err, &e) && e.Reason == parse.RejectTooLong
}

// line delivers the line the LineReader just returned: b, or a line over the cap when tooLong.
// terminated tells whether it ended with '\n'.
func (t *Tailer) line(f *file, b []byte, tooLong, terminated bool) {
	lineNo := f.baseLine + f.lr.Lines()
	next := f.baseOff + f.lr.Offset()
	start := f.lineOff
	f.lineOff = next
	if next-start > int64(t.initBuf)/2 {
		f.bigLine = true
	}
	if f.skipOne {
		f.skipOne, tooLong = false, true
	}
	if tooLong {
		t.h.TooLong(f.path, lineNo, t.lineSize(f, start, next, terminated))
	} else {
		f.lastSafe = f.fn(b, lineNo)
	}
	// A skipped line leaves the consumer as it was: safe if it was safe before.
	if f.lastSafe {
		f.safeOff, f.safeLine = next, lineNo
	}
}

// lineSize returns the length of the line in [start, end) without its line ending, the bytes
// of a line over the cap being gone: whether it ends in "\r\n" is read again from the file.
func (t *Tailer) lineSize(f *file, start, end int64, terminated bool) int {
	n := end - start
	if terminated {
		n--
	}
	var last [1]byte
	if n > 0 {
		if _, err := f.fd.ReadAt(last[:], start+n-1); err == nil && last[0] == '\r' {
			n--
		}
	}
	return int(n)
}

// flush delivers the unterminated end of a file whose generation is over.
func (t *Tailer) flush(f *file) {
	f.src.ended = true
	f.lr.HoldFinal(false)
	t.deliver(f, false) // io.EOF: the source has ended
	f.lr.HoldFinal(true)
}

// readHead returns the first min(FingerprintBytes, size) bytes of fd (fewer on a read error).
func readHead(fd *os.File, size int64) []byte {
	b := make([]byte, min(int64(FingerprintBytes), max(size, 0)))
	n, _ := fd.ReadAt(b, 0)
	return b[:n]
}

func hashHead(head []byte) string {
	sum := sha256.Sum256(head)
	return hex.EncodeToString(sum[:16])
}

// fingerprintMatches tells whether fd starts with the bytes the checkpoint pos was taken of.
func fingerprintMatches(fd *os.File, pos position) bool {
	if pos.FingerprintLen <= 0 {
		return true
	}
	b := make([]byte, pos.FingerprintLen)
	n, _ := fd.ReadAt(b, 0)
	return n == len(b) && hashHead(b) == pos.Fingerprint
}

func lastNewline(b []byte) int { return bytes.LastIndexByte(b, '\n') }
