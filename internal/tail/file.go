package tail

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"time"
)

type fileKey struct{ dev, ino uint64 }

// file is one open file being followed.
type file struct {
	path string
	fd   *os.File
	key  fileKey
	head []byte // the first min(FingerprintBytes, size) bytes, for the fingerprint
	fn   LineFunc

	buf      []byte // bytes read but not yet delivered: the start of an unfinished line
	readOff  int64  // file offset of the end of buf
	lineNo   int64  // lines seen
	lastSafe bool   // what the last delivered line's LineFunc returned
	safeOff  int64  // the last safe resume position
	safeLine int64  // lineNo at safeOff
	skipping bool   // dropping the rest of a too-long line
	skipN    int    // bytes of it dropped so far

	atEOF   bool // the last read reached the end of the file
	gone    bool // the path no longer leads here: drain, then let go
	goneAt  time.Time
	renamed bool // the rotation was counted
}

// read reads up to budget bytes from f and delivers the complete lines among them. It reports
// whether the end of the file was reached.
func (t *Tailer) read(f *file, budget int) (eof bool, err error) {
	for budget > 0 {
		if len(f.buf) == cap(f.buf) {
			switch {
			case cap(f.buf) == 0:
				f.buf = make([]byte, 0, t.initBuf)
			case cap(f.buf) < t.maxBuf:
				nb := make([]byte, len(f.buf), min(2*cap(f.buf), t.maxBuf))
				copy(nb, f.buf)
				f.buf = nb
			default:
				// A full buffer without a newline holds more than MaxLineBytes+"\r": skip the line.
				// A final '\r' is kept: it may belong to the "\r\n" that ends the line.
				keep := 0
				if f.buf[len(f.buf)-1] == '\r' {
					keep = 1
				}
				f.skipping = true
				f.skipN += len(f.buf) - keep
				f.buf[0] = f.buf[len(f.buf)-1]
				f.buf = f.buf[:keep]
			}
		}
		room := f.buf[len(f.buf):cap(f.buf)]
		if len(room) > budget {
			room = room[:budget]
		}
		n, err := f.fd.ReadAt(room, f.readOff)
		if n > 0 {
			from := len(f.buf)
			f.buf = f.buf[:from+n]
			f.readOff += int64(n)
			t.sinceSave += int64(n)
			budget -= n
			if !f.gone && !t.sameContent(f) {
				// Truncated and rewritten since the last look: what was just read is new content.
				f.buf = f.buf[:from]
				t.truncated(f, "first bytes changed")
				continue
			}
			t.split(f, from)
		}
		if err == io.EOF {
			return true, nil
		}
		if err != nil {
			return false, err
		}
	}
	return false, nil
}

// split delivers the complete lines in f.buf, looking for newlines from index from on, and
// keeps the unfinished rest at the front of f.buf.
func (t *Tailer) split(f *file, from int) {
	base := f.readOff - int64(len(f.buf)) // file offset of f.buf[0]
	start := 0
	for {
		i := bytes.IndexByte(f.buf[from:], '\n')
		if i < 0 {
			break
		}
		end := from + i
		t.line(f, f.buf[start:end], base+int64(end)+1)
		start = end + 1
		from = start
	}
	if start > 0 {
		f.buf = f.buf[:copy(f.buf, f.buf[start:])]
	}
}

// line delivers one line (without its '\n') that ends before file offset next.
func (t *Tailer) line(f *file, b []byte, next int64) {
	f.lineNo++
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	switch {
	case f.skipping:
		n := f.skipN + len(b)
		f.skipping, f.skipN = false, 0
		t.h.TooLong(f.path, f.lineNo, n)
	case len(b) > t.cfg.MaxLineBytes:
		t.h.TooLong(f.path, f.lineNo, len(b))
	default:
		f.lastSafe = f.fn(b, f.lineNo)
	}
	// A skipped line leaves the consumer as it was: safe if it was safe before.
	if f.lastSafe {
		f.safeOff, f.safeLine = next, f.lineNo
	}
}

// flush delivers the unterminated end of a file whose generation is over.
func (t *Tailer) flush(f *file) {
	if len(f.buf) > 0 || f.skipping {
		t.line(f, f.buf, f.readOff)
		f.buf = f.buf[:0]
	}
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
