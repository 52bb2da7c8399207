package parse

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/require"
)

// readAll returns every line (too-long ones as "<too long>") and the final offset.
func readAll(t *testing.T, lr *LineReader) ([]string, int64) {
	t.Helper()
	var got []string
	for {
		line, err := lr.Next()
		if err == io.EOF {
			return got, lr.Offset()
		}
		var pe *Error
		if errors.As(err, &pe) {
			require.Equal(t, RejectTooLong, pe.Reason)
			got = append(got, "<too long>")
			continue
		}
		require.NoError(t, err)
		got = append(got, string(line))
	}
}

// TestLineReader covers the split cases of mtail's logstream reader tests and the cap.
func TestLineReader(t *testing.T) {
	tests := []struct {
		name string
		in   string
		max  int
		want []string
	}{
		{"empty input", "", 0, nil},
		{"one line", "a\n", 0, []string{"a"}},
		{"final line without newline", "a\nb", 0, []string{"a", "b"}},
		{"crlf", "a\r\nb\r\n", 0, []string{"a", "b"}},
		{"crlf final without newline", "a\r\nb\r", 0, []string{"a", "b"}},
		{"lone cr stays", "a\rb\n", 0, []string{"a\rb"}},
		{"blank lines", "\n\n\r\nx\n", 0, []string{"", "", "", "x"}},
		{"utf-8 kept", "héllo wörld\n😀\n", 0, []string{"héllo wörld", "😀"}},
		{"line at the cap", "12345\n", 5, []string{"12345"}},
		{"line at the cap with crlf", "12345\r\n6\n", 5, []string{"12345", "6"}},
		{"line over the cap skipped", "123456\nok\n", 5, []string{"<too long>", "ok"}},
		{"long line far over the cap", strings.Repeat("x", 1000) + "\nok\n" + strings.Repeat("y", 77) + "\n", 8, []string{"<too long>", "ok", "<too long>"}},
		{"over the cap at the end", "ok\n" + strings.Repeat("z", 100), 8, []string{"ok", "<too long>"}},
	}
	readers := map[string]func(io.Reader) io.Reader{
		"whole":    func(r io.Reader) io.Reader { return r },
		"one byte": iotest.OneByteReader,
		"half":     iotest.HalfReader,
		"data+EOF": iotest.DataErrReader,
	}
	for _, tt := range tests {
		t.Run(tt.name+"/NextLine", func(t *testing.T) {
			// NextLine splits a buffer held whole exactly as LineReader splits a stream.
			var got []string
			for rest := []byte(tt.in); len(rest) > 0; {
				var line []byte
				var err error
				line, rest, err = NextLine(rest, tt.max)
				var pe *Error
				if errors.As(err, &pe) {
					require.Equal(t, RejectTooLong, pe.Reason)
					require.Nil(t, line)
					got = append(got, "<too long>")
					continue
				}
				require.NoError(t, err)
				got = append(got, string(line))
			}
			require.Equal(t, tt.want, got)
		})
		for rn, wrap := range readers {
			t.Run(tt.name+"/"+rn, func(t *testing.T) {
				lr := NewLineReader(wrap(strings.NewReader(tt.in)), tt.max)
				got, off := readAll(t, lr)
				require.Equal(t, tt.want, got)
				require.Equal(t, int64(len(tt.in)), off, "offset")
				require.Equal(t, int64(len(tt.in)), lr.BytesRead())
				require.Equal(t, int64(len(tt.want)), lr.Lines())
				if tt.max > 0 {
					// The buffer never grows past a line at the cap plus "\r\n".
					require.LessOrEqual(t, len(lr.buf), tt.max+2, "buffer size")
				}
			})
		}
	}
}

// TestLineReaderMemoryBounded feeds a line much longer than the cap through a large buffer.
func TestLineReaderMemoryBounded(t *testing.T) {
	const capLen = 100 << 10
	in := strings.Repeat("x", 5<<20) + "\n{\"a\":1}\n"
	lr := NewLineReader(strings.NewReader(in), capLen)
	got, _ := readAll(t, lr)
	require.Equal(t, []string{"<too long>", `{"a":1}`}, got)
	require.LessOrEqual(t, cap(lr.buf), capLen+2)
}

// growingReader returns EOF until more data is appended, like a file being written.
type growingReader struct{ data []string }

func (g *growingReader) Read(p []byte) (int, error) {
	if len(g.data) == 0 || g.data[0] == "" {
		if len(g.data) > 0 {
			g.data = g.data[1:]
		}
		return 0, io.EOF
	}
	n := copy(p, g.data[0])
	g.data[0] = g.data[0][n:]
	return n, nil
}

// TestLineReaderFollow checks HoldFinal and non-sticky EOF: a line written in two parts is
// returned once, whole.
func TestLineReaderFollow(t *testing.T) {
	g := &growingReader{data: []string{"a\npart", "", "ial\nb", "", "\n"}}
	lr := NewLineReader(g, 0)
	lr.HoldFinal(true)
	var got []string
	for i := 0; i < 10; i++ {
		line, err := lr.Next()
		if err == io.EOF {
			continue
		}
		require.NoError(t, err)
		got = append(got, string(line))
	}
	require.Equal(t, []string{"a", "partial", "b"}, got)
	require.Equal(t, int64(len("a\npartial\nb\n")), lr.Offset())
}

func TestLineReaderError(t *testing.T) {
	boom := errors.New("disk on fire")
	lr := NewLineReader(iotest.TimeoutReader(strings.NewReader("abc\ndef\n")), 0)
	line, err := lr.Next()
	require.NoError(t, err)
	require.Equal(t, "abc", string(line))
	line, err = lr.Next()
	require.NoError(t, err)
	require.Equal(t, "def", string(line))
	_, err = lr.Next()
	require.ErrorIs(t, err, iotest.ErrTimeout)

	lr = NewLineReader(iotest.ErrReader(boom), 0)
	_, err = lr.Next()
	require.ErrorIs(t, err, boom)
}

// FuzzNextLine checks NextLine against strings.Split: the lines between newlines, without a last
// empty one after a final newline, each without one trailing '\r', and over the cap rejected.
func FuzzNextLine(f *testing.F) {
	f.Add([]byte("a\r\nb\n\nc"), 2)
	f.Add([]byte("\r\r\n"), 0)
	f.Fuzz(func(t *testing.T, in []byte, maxLine int) {
		maxLine %= 64
		want := strings.Split(string(in), "\n")
		if strings.HasSuffix(string(in), "\n") || len(in) == 0 {
			want = want[:len(want)-1]
		}
		var got []string
		for rest := in; len(rest) > 0; {
			var line []byte
			var err error
			line, rest, err = NextLine(rest, maxLine)
			if err != nil {
				got = append(got, "<too long>")
				continue
			}
			got = append(got, string(line))
		}
		for i, w := range want {
			w = strings.TrimSuffix(w, "\r")
			if maxLine > 0 && len(w) > maxLine {
				w = "<too long>"
			}
			want[i] = w
		}
		require.Equal(t, len(want), len(got))
		if len(want) > 0 {
			require.Equal(t, want, got)
		}
	})
}
