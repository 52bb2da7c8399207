package tail

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestReaderSplits feeds each input to a real file in chunks of several sizes, reading after
// every chunk, so that newlines, "\r\n" pairs and line caps fall on every possible boundary.
func TestReaderSplits(t *testing.T) {
	cases := []struct {
		name    string
		max     int    // MaxLineBytes
		input   string // written in chunks
		want    []string
		flushed []string // events when the file is let go afterwards
	}{
		{name: "lf", max: 64, input: "a\nbb\nccc\n",
			want: []string{"line f 1 a", "line f 2 bb", "line f 3 ccc"}},
		{name: "crlf", max: 64, input: "a\r\nbb\r\n\r\n",
			want: []string{"line f 1 a", "line f 2 bb", "line f 3 "}},
		{name: "cr inside a line stays", max: 64, input: "a\rb\n\r\r\n",
			want: []string{"line f 1 a\rb", "line f 2 \r"}},
		{name: "empty lines", max: 64, input: "\n\n",
			want: []string{"line f 1 ", "line f 2 "}},
		{name: "unterminated final line waits", max: 64, input: "a\nbcd",
			want:    []string{"line f 1 a"},
			flushed: []string{"line f 2 bcd"}},
		{name: "unterminated final cr", max: 64, input: "a\nb\r",
			want:    []string{"line f 1 a"},
			flushed: []string{"line f 2 b"}},
		{name: "line of exactly max", max: 8, input: "12345678\n12345678\r\n",
			want: []string{"line f 1 12345678", "line f 2 12345678"}},
		{name: "line of max plus one", max: 8, input: "123456789\n123456789\r\nok\n",
			want: []string{"toolong f 1 9", "toolong f 2 9", "line f 3 ok"}},
		{name: "very long line skipped, reading goes on", max: 8,
			input: strings.Repeat("x", 29) + "\r\n" + strings.Repeat("y", 40) + "\nok\n",
			want:  []string{"toolong f 1 29", "toolong f 2 40", "line f 3 ok"}},
		{name: "long unterminated line reported when let go", max: 8,
			input:   "ok\n" + strings.Repeat("z", 25),
			want:    []string{"line f 1 ok"},
			flushed: []string{"toolong f 2 25"}},
		{name: "binary junk", max: 64, input: "\x00\xff\xfe\n\x1b[0m\x00\n\x01",
			want:    []string{"line f 1 \x00\xff\xfe", "line f 2 \x1b[0m\x00"},
			flushed: []string{"line f 3 \x01"}},
	}
	for _, tc := range cases {
		for _, chunk := range []int{1, 2, 3, 7, len(tc.input)} {
			t.Run(tc.name+"/chunk"+strconv.Itoa(chunk), func(t *testing.T) {
				dir := t.TempDir()
				path := filepath.Join(dir, "f")
				require.NoError(t, os.WriteFile(path, nil, 0o644))
				rec := &recorder{dir: dir}
				cfg := fastConfig(dir, "f")
				cfg.MaxLineBytes = tc.max
				tl, err := New(cfg, rec)
				require.NoError(t, err)
				tl.open(path, false)
				require.Len(t, tl.files, 1)
				f := tl.files[0]
				defer f.fd.Close()
				for i := 0; i < len(tc.input); i += chunk {
					appendFile(t, path, tc.input[i:min(i+chunk, len(tc.input))])
					eof, err := tl.read(f, readBudget)
					require.NoError(t, err)
					require.True(t, eof)
				}
				require.Equal(t, append([]string{"open f"}, tc.want...), rec.all())
				tl.flush(f)
				require.Equal(t, concat([]string{"open f"}, tc.want, tc.flushed), rec.all())
			})
		}
	}
}
