package parse

import (
	"bytes"
	"io"
	"strconv"
)

// DefaultMaxLine is the default line-length cap: longer lines are skipped with RejectTooLong.
const DefaultMaxLine = 1 << 20

// LineReader splits a byte stream into lines with one reusable buffer. A line ends at '\n'; a
// '\r' before it is dropped; a last line without '\n' is returned at the end of the input. A line
// longer than the cap is skipped up to its newline and reported as an *Error with RejectTooLong;
// the buffer never grows past the cap (plus two bytes).
//
// io.EOF is not sticky: after Next returns io.EOF, a later call reads again, so a LineReader can
// follow a growing file. The returned line is valid until the next call to Next.
type LineReader struct {
	r          io.Reader
	max        int
	buf        []byte
	start, end int  // unread bytes are buf[start:end]
	scanned    int  // buf[start:start+scanned] holds no '\n'
	skipping   bool // inside a line over the cap: drop bytes up to the next '\n'
	skipped    int64
	holdFinal  bool
	lines      int64
	offset     int64 // bytes consumed up to the end of the last returned line
	read       int64 // bytes read from r
}

// NewLineReader returns a LineReader over r with the given line-length cap (DefaultMaxLine when
// maxLine <= 0).
func NewLineReader(r io.Reader, maxLine int) *LineReader {
	if maxLine <= 0 {
		maxLine = DefaultMaxLine
	}
	return &LineReader{r: r, max: maxLine}
}

// HoldFinal makes Next keep an unterminated last line buffered at io.EOF instead of returning it,
// for readers that follow a file still being written: the line is returned once its newline
// arrives.
func (lr *LineReader) HoldFinal(hold bool) { lr.holdFinal = hold }

// Reset makes lr read from r, keeping its buffer and cap, and zeroes its counters.
func (lr *LineReader) Reset(r io.Reader) {
	*lr = LineReader{r: r, max: lr.max, buf: lr.buf[:0], holdFinal: lr.holdFinal}
}

// Lines returns the number of lines returned so far, too-long ones included: the 1-based number
// of the last line.
func (lr *LineReader) Lines() int64 { return lr.lines }

// Offset returns the number of bytes consumed up to the end of the last returned line (its
// newline included): the position to resume reading at.
func (lr *LineReader) Offset() int64 { return lr.offset }

// BytesRead returns the number of bytes read from the underlying reader.
func (lr *LineReader) BytesRead() int64 { return lr.read }

// Buffered returns the number of bytes read but not yet returned as a line.
func (lr *LineReader) Buffered() int { return lr.end - lr.start }

// Next returns the next line without its line ending. It returns an *Error with RejectTooLong
// for a line over the cap (the stream continues), io.EOF at the end of the input, or the
// reader's error.
func (lr *LineReader) Next() ([]byte, error) {
	empty := 0
	for {
		if i := bytes.IndexByte(lr.buf[lr.start+lr.scanned:lr.end], '\n'); i >= 0 {
			j := lr.start + lr.scanned + i
			line := lr.buf[lr.start:j]
			n := int64(j + 1 - lr.start)
			lr.start, lr.scanned = j+1, 0
			return lr.emit(line, n)
		}
		lr.scanned = lr.end - lr.start
		if lr.skipping || lr.scanned > lr.max+1 {
			// Over the cap: forget what is buffered, remember how much.
			lr.skipping = true
			lr.skipped += int64(lr.scanned)
			lr.start, lr.end, lr.scanned = 0, 0, 0
		}
		if lr.start > 0 { // make room at the end
			copy(lr.buf, lr.buf[lr.start:lr.end])
			lr.end -= lr.start
			lr.start = 0
		}
		if lr.end == len(lr.buf) {
			lr.grow()
		}
		n, err := lr.r.Read(lr.buf[lr.end:])
		if n < 0 || n > len(lr.buf)-lr.end {
			return nil, io.ErrNoProgress // a broken reader
		}
		lr.end += n
		lr.read += int64(n)
		if n > 0 {
			empty = 0
			continue
		}
		if err == nil {
			if empty++; empty >= 100 {
				return nil, io.ErrNoProgress
			}
			continue
		}
		if err == io.EOF && (lr.end > lr.start || lr.skipping) && !lr.holdFinal {
			line := lr.buf[lr.start:lr.end]
			n := int64(lr.end - lr.start)
			lr.start, lr.end, lr.scanned = 0, 0, 0
			return lr.emit(line, n)
		}
		return nil, err
	}
}

// emit finishes a line of n bytes (line ending included).
func (lr *LineReader) emit(line []byte, n int64) ([]byte, error) {
	lr.lines++
	lr.offset += lr.skipped + n
	line = dropCR(line)
	if lr.skipping || len(line) > lr.max {
		size := lr.skipped + int64(len(line))
		lr.skipping, lr.skipped = false, 0
		return nil, tooLong(lr.lines, size, lr.max)
	}
	return line, nil
}

// NextLine cuts the first line off buf the way LineReader reads one: the line ends at '\n' (or
// at the end of buf), a '\r' before the newline is dropped, and rest is what follows the newline.
// A line over maxLine bytes (maxLine > 0) is returned as a nil line and an *Error with
// RejectTooLong. Loop while len(rest) > 0: a buffer ending in '\n' has no empty last line.
func NextLine(buf []byte, maxLine int) (line, rest []byte, err error) {
	if i := bytes.IndexByte(buf, '\n'); i >= 0 {
		line, rest = buf[:i], buf[i+1:]
	} else {
		line = buf
	}
	line = dropCR(line)
	if maxLine > 0 && len(line) > maxLine {
		return nil, rest, tooLong(0, int64(len(line)), maxLine)
	}
	return line, rest, nil
}

// dropCR drops the '\r' of a CRLF line ending.
func dropCR(line []byte) []byte {
	if len(line) > 0 && line[len(line)-1] == '\r' {
		return line[:len(line)-1]
	}
	return line
}

// tooLong is the RejectTooLong error of a line of at least size bytes; lineNo 0 when unknown.
func tooLong(lineNo, size int64, maxLine int) *Error {
	where := "line"
	if lineNo > 0 {
		where += " " + strconv.FormatInt(lineNo, 10)
	}
	return &Error{Reason: RejectTooLong, Offset: -1,
		Msg: where + " has " + strconv.FormatInt(size, 10) + " bytes or more, over the cap of " + strconv.Itoa(maxLine)}
}

func (lr *LineReader) grow() {
	limit := lr.max + 2 // a line of max bytes, '\r' and '\n'
	size := max(2*len(lr.buf), 64<<10)
	size = min(size, limit)
	if size <= len(lr.buf) {
		size = len(lr.buf) + 1 // unreachable: the buffer is emptied once over the cap
	}
	nb := make([]byte, size)
	copy(nb, lr.buf[lr.start:lr.end])
	lr.end -= lr.start
	lr.start = 0
	lr.buf = nb
}
