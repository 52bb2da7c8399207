package replay

import (
	"bytes"
	"io"
)

// block is a run of whole lines of one input, handed to one worker. Workers number lines within
// their block; the numbers become absolute once every earlier block's line count is known, so the
// reader never has to count lines.
type block struct {
	seq     int    // position in the input, from 0
	skipped int    // lines over the cap, left out, that come just before data
	data    []byte // whole lines; the last one may lack its newline only at end of input
}

// blockReader cuts an input into blocks of whole lines of at most size bytes, reading straight
// into each block's buffer; only the unfinished line at a block's end is copied, to the start of
// the next block. A line that does not fit in a block (size is at least twice the line cap) is
// left out and noted in the next block. A CRI partial line (tag P) never ends a block, so a record
// that the container runtime split is reassembled within one block.
type blockReader struct {
	r       io.Reader
	size    int
	carry   []byte // bytes read past the last block's cut
	eof     bool
	seq     int
	skipped int
	read    int64
}

func newBlockReader(r io.Reader, size, maxLine int) *blockReader {
	if size < 2*maxLine {
		size = 2 * maxLine
	}
	return &blockReader{r: r, size: size}
}

// fill reads into buf[len(buf):cap(buf)] until it is full or the input ends.
func (br *blockReader) fill(buf []byte) ([]byte, error) {
	for !br.eof && len(buf) < cap(buf) {
		n, err := br.r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		br.read += int64(n)
		if err == io.EOF {
			br.eof = true
		} else if err != nil {
			return buf, err
		}
	}
	return buf, nil
}

// next returns the next block, using dst's storage when it is large enough, or io.EOF.
func (br *blockReader) next(dst []byte) (block, error) {
	if cap(dst) < br.size {
		dst = make([]byte, 0, br.size)
	}
	buf := append(dst[:0], br.carry...)
	br.carry = br.carry[:0]
	for {
		var err error
		if buf, err = br.fill(buf); err != nil {
			return block{}, err
		}
		if len(buf) == 0 {
			if br.skipped > 0 {
				return br.finish(buf, 0), nil
			}
			return block{}, io.EOF
		}
		if cut := br.cutPoint(buf); cut >= 0 {
			return br.finish(buf, cut), nil
		}
		// A full buffer without a newline: the line is over the cap. Drop it up to its newline.
		br.skipped++
		for {
			buf = buf[:0]
			if buf, err = br.fill(buf); err != nil {
				return block{}, err
			}
			if i := bytes.IndexByte(buf, '\n'); i >= 0 {
				buf = buf[:copy(buf, buf[i+1:])]
				break
			}
			if br.eof {
				buf = buf[:0]
				break
			}
		}
	}
}

// cutPoint returns how many bytes of buf form whole lines to hand out, or -1 when buf holds no
// newline at all although it is full. Lines over the cap that do fit are left for the worker.
func (br *blockReader) cutPoint(buf []byte) int {
	if br.eof {
		return len(buf)
	}
	last := bytes.LastIndexByte(buf, '\n')
	if last < 0 {
		return -1
	}
	end := last
	for end >= 0 {
		start := bytes.LastIndexByte(buf[:end], '\n') + 1
		if !isCRIPartial(buf[start:end]) {
			return end + 1
		}
		end = start - 1
	}
	// Only CRI partials in a full buffer: hand them out; the framer caps the record.
	return last + 1
}

// finish hands out buf[:cut] and keeps the rest for the next block.
func (br *blockReader) finish(buf []byte, cut int) block {
	br.carry = append(br.carry, buf[cut:]...)
	data := buf[:cut]
	b := block{seq: br.seq, skipped: br.skipped, data: data}
	br.skipped = 0
	br.seq++
	return b
}

// isCRIPartial reports whether line is a CRI log line with the partial tag:
// "<time> <stream> P <text>".
func isCRIPartial(line []byte) bool {
	sp := bytes.IndexByte(line, ' ')
	if sp < 20 || sp > 40 || line[0] < '0' || line[0] > '9' {
		return false
	}
	rest := line[sp+1:]
	sp2 := bytes.IndexByte(rest, ' ')
	if sp2 < 0 || len(rest) < sp2+3 {
		return false
	}
	return rest[sp2+1] == 'P' && rest[sp2+2] == ' '
}
