package cli

import (
	"fmt"
	"log/slog"
	"strconv"
	"unicode/utf8"
)

// MaxQuoted is how many bytes of one piece of input (a path, an authority, a rejected line) a
// message shows.
const MaxQuoted = 256

// Truncate returns s cut to at most max bytes at a rune boundary, followed by "…(N bytes)" naming
// the full length when it was cut.
func Truncate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s…(%d bytes)", s[:cut], len(s))
}

// Quote returns s as a Go double-quoted string (strconv.Quote: control bytes such as ESC and BEL
// become \x1b and \a, invalid UTF-8 becomes \x..), showing at most max bytes of s. Every piece of
// input printed by a fallbackwatch command goes through it, so that log content never reaches a
// terminal raw and one huge line cannot flood a report.
func Quote(s string, max int) string {
	if len(s) <= max {
		return strconv.Quote(s)
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s…(%d bytes)", strconv.Quote(s[:cut]), len(s))
}

// CapAttr is a slog ReplaceAttr function that cuts string and error values to max bytes
// (Truncate). The text and JSON handlers quote or escape what remains, so control bytes never
// reach the log raw.
func CapAttr(max int) func(groups []string, a slog.Attr) slog.Attr {
	return func(_ []string, a slog.Attr) slog.Attr {
		switch a.Value.Kind() {
		case slog.KindString:
			if s := a.Value.String(); len(s) > max {
				a.Value = slog.StringValue(Truncate(s, max))
			}
		case slog.KindAny:
			if err, ok := a.Value.Any().(error); ok {
				if s := err.Error(); len(s) > max {
					a.Value = slog.StringValue(Truncate(s, max))
				}
			}
		}
		return a
	}
}
