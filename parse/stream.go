package parse

import "io"

// Stream reads access-log records from a byte stream: a LineReader, a Framer and a Parser in one.
// Not safe for concurrent use.
type Stream struct {
	lines  *LineReader
	framer *Framer
	parser Parser
}

// NewStream returns a Stream reading r.
func NewStream(r io.Reader, opts Options) *Stream {
	return &Stream{lines: NewLineReader(r, opts.MaxLine), framer: NewFramer(opts)}
}

// Next reads the next record into r. It returns the 1-based number of the line on which the
// record (or the skipped or rejected line) ends, and:
//   - nil for a record;
//   - an *Error for a line that was skipped or rejected: the stream continues with the next call;
//   - io.EOF at the end of the input (a CRI partial line still pending stays held, see Pending;
//     a later Next continues if the reader delivers more);
//   - otherwise the reader's error.
//
// The values in r are valid until the next call.
func (s *Stream) Next(r *Record) (int64, error) {
	for {
		line, err := s.lines.Next()
		if err != nil {
			return s.lines.Lines(), err
		}
		payload, ok, err := s.framer.Frame(line)
		if err != nil {
			return s.lines.Lines(), err
		}
		if !ok {
			continue
		}
		return s.lines.Lines(), s.parser.Parse(payload, r)
	}
}

// Lines returns the number of lines read so far.
func (s *Stream) Lines() int64 { return s.lines.Lines() }

// BytesRead returns the number of bytes read from the underlying reader.
func (s *Stream) BytesRead() int64 { return s.lines.BytesRead() }

// Offset returns the input position just after the last line read. It is a safe checkpoint
// when Pending is false.
func (s *Stream) Offset() int64 { return s.lines.Offset() }

// Pending reports whether a partial line is held (see Framer.Pending).
func (s *Stream) Pending() bool { return s.framer.Pending() }

// Format returns the stream's configured or detected format.
func (s *Stream) Format() Format { return s.framer.Format() }

// Meta describes the last record's framing (stream, runtime time, envelope's pod).
func (s *Stream) Meta() Meta { return s.framer.Meta() }

// LineReader returns the Stream's line reader, e.g. to call HoldFinal.
func (s *Stream) LineReader() *LineReader { return s.lines }

// Declined returns how many records the fast scanner handed to the general decoder.
func (s *Stream) Declined() int64 { return s.parser.Declined }
