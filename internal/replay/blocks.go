package replay

import (
	"bytes"
	"io"

	"github.com/fallbackwatch/fallbackwatch/parse"
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
// left out and noted in the next block. Blocks end only where no stream has a partial line open
// (see cutPoint).
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
//
// A block is cut only where no output stream has a partial line open (a CRI "P" line, or a
// docker line without its newline, not yet followed by the same stream's final fragment), so
// every record the container runtime split is reassembled within one block by a framer reset at
// the block's start: the blocks, and so the report, do not depend on the number of workers. buf
// starts at such a point (the previous cut), so a scan from its start knows which chains are
// open. Only a buffer without any such point (a chain longer than the block) is cut at its last
// newline; the framer's cap rejects that record however the input is cut.
func (br *blockReader) cutPoint(buf []byte) int {
	if br.eof {
		return len(buf)
	}
	last := bytes.LastIndexByte(buf, '\n')
	if last < 0 {
		return -1
	}
	whole := buf[:last+1]
	clean := -1
	var open [2]bool
	for rest := whole; len(rest) > 0; {
		var line []byte
		line, rest, _ = parse.NextLine(rest, 0)
		if stream, partial, ok := parse.Fragment(line); ok {
			open[stream] = partial
		}
		if !open[0] && !open[1] {
			clean = len(whole) - len(rest)
		}
	}
	if clean > 0 {
		return clean
	}
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
