package replay

import (
	"bytes"
	"io"
)

// block is a run of whole lines of one input, handed to one worker.
type block struct {
	seq       int    // position in the input, from 0
	firstLine int64  // 1-based number of the block's first line
	data      []byte // whole lines; the last one may lack its newline only at end of input
	tooLong   []int64
	// tooLong lists lines that were over the cap and left out of data.
}

// blockReader cuts an input into blocks of whole lines of about size bytes. A line over maxLine
// bytes is left out and noted in the block that follows it; a CRI partial line (tag P) never ends
// a block, so a record split by the container runtime is reassembled within one block.
type blockReader struct {
	r       io.Reader
	size    int
	maxLine int
	buf     []byte // unread bytes carried over to the next block
	eof     bool
	seq     int
	line    int64 // number of the next line
	skip    bool  // inside an over-long line: drop bytes up to the next newline
	skipped []int64
	read    int64
}

func newBlockReader(r io.Reader, size, maxLine int) *blockReader {
	if size < 2*maxLine {
		size = 2 * maxLine
	}
	return &blockReader{r: r, size: size, maxLine: maxLine, line: 1}
}

// next returns the next block, reusing dst's storage, or io.EOF.
func (br *blockReader) next(dst []byte) (block, error) {
	for {
		// Fill up to size.
		for !br.eof && len(br.buf) < br.size {
			if cap(br.buf) < br.size {
				nb := make([]byte, len(br.buf), br.size)
				copy(nb, br.buf)
				br.buf = nb
			}
			n, err := br.r.Read(br.buf[len(br.buf):br.size])
			br.buf = br.buf[:len(br.buf)+n]
			br.read += int64(n)
			if err == io.EOF {
				br.eof = true
			} else if err != nil {
				return block{}, err
			}
		}
		if br.skip {
			i := bytes.IndexByte(br.buf, '\n')
			if i < 0 {
				br.buf = br.buf[:0]
				if br.eof {
					br.skip = false
					br.line++
					return br.finish(dst, nil)
				}
				continue
			}
			br.buf = br.buf[i+1:]
			br.skip = false
			br.line++
			continue
		}
		if len(br.buf) == 0 && br.eof {
			if len(br.skipped) > 0 {
				return br.finish(dst, nil)
			}
			return block{}, io.EOF
		}
		cut := br.cutPoint()
		if cut < 0 {
			// No newline within maxLine bytes: the line is too long.
			br.skipped = append(br.skipped, br.line)
			br.skip = true
			br.buf = br.buf[:0]
			continue
		}
		return br.finish(dst, br.buf[:cut])
	}
}

// cutPoint returns how many bytes of buf form whole lines to hand out, or -1 when buf holds no
// newline at all although it is full: a line longer than the buffer, so over the cap. Lines over
// the cap that do fit are left for the worker to reject.
func (br *blockReader) cutPoint() int {
	buf := br.buf
	if br.eof && len(buf) < br.size {
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

func (br *blockReader) finish(dst []byte, data []byte) (block, error) {
	b := block{seq: br.seq, firstLine: br.line, data: append(dst[:0], data...), tooLong: br.skipped}
	br.skipped = nil
	br.seq++
	br.line += int64(bytes.Count(data, []byte{'\n'}))
	if len(data) > 0 && data[len(data)-1] != '\n' {
		br.line++
	}
	br.buf = br.buf[:copy(br.buf, br.buf[len(data):])]
	return b, nil
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
