package cli

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestQuote(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		max      int
		want     string
	}{
		{"plain", "reviews:9080", 64, `"reviews:9080"`},
		{"colour escape", "a\x1b[31mb", 64, `"a\x1b[31mb"`},
		{"title escape", "\x1b]0;pwned\x07", 64, `"\x1b]0;pwned\a"`},
		{"invalid UTF-8", "a\xffb", 64, `"a\xffb"`},
		{"cut", "abcdefghij", 4, `"abcd"…(10 bytes)`},
		// "é" is two bytes: a cut inside it moves back to the rune start.
		{"cut at a rune boundary", "aé-long", 2, `"a"…(8 bytes)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, Quote(tc.in, tc.max))
		})
	}
}

// TestCapAttr: the text handler, given CapAttr, writes cut values quoted and never a raw ESC.
func TestCapAttr(t *testing.T) {
	var b bytes.Buffer
	l := slog.New(slog.NewTextHandler(&b, &slog.HandlerOptions{ReplaceAttr: CapAttr(8)}))
	l.Info("m", "path", "\x1b[31m"+strings.Repeat("z", 20), "n", 3)
	require.Contains(t, b.String(), `path="\x1b[31mzzz…(25 bytes)"`)
	require.Contains(t, b.String(), "n=3")
	require.NotContains(t, b.String(), "\x1b")
}
