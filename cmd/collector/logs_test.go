package main

import (
	"bufio"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fallbackwatch/fallbackwatch/internal/corpus"
)

// hostileSubset is a subset name carrying a colour escape (ESC [31m) and a terminal-title escape
// (ESC ]0;...BEL), written as JSON escapes so the record stays valid JSON.
const hostileSubset = `v9\u001b[31m\u001b]0;pwned\u0007`

// TestRunLogsNoRawControlBytes: a record whose fields carry terminal escapes is logged (the C2
// message quotes its fallback_path) with the escapes quoted, in both log formats, and a huge
// value is cut to maxLogValue bytes with its full length named.
func TestRunLogsNoRawControlBytes(t *testing.T) {
	hostile := strings.ReplaceAll(corpus.SeedSuccess, "|v2|reviews.default.svc.cluster.local", "|"+hostileSubset+"|reviews.default.svc.cluster.local")
	huge := strings.ReplaceAll(corpus.SeedSuccess, "|v2|reviews.default.svc.cluster.local", "|"+strings.Repeat("x", 5000)+"|reviews.default.svc.cluster.local")
	for _, tc := range []struct {
		format, esc string
	}{
		{"logfmt", `\x1b[31m\x1b]0;pwned\a`},
		{"json", `\u001b[31m\u001b]0;pwned\u0007`},
	} {
		t.Run(tc.format, func(t *testing.T) {
			p := startRun(t, strings.NewReader(hostile+"\n"+huge+"\n"), "--log.level=debug", "--log.format="+tc.format,
				"--routing", "testdata/bookinfo", "-")
			require.Eventually(t, func() bool {
				return strings.Count(p.stderr.String(), "record contradicts the routing configuration") >= 2
			},
				10*time.Second, 20*time.Millisecond, p.stderr.String())
			p.stop(t)
			out := p.stderr.String()
			require.NotContains(t, out, "\x1b", "no raw ESC reaches the log")
			require.NotContains(t, out, "\x07", "no raw BEL reaches the log")
			require.Contains(t, out, tc.esc, "the escapes are visible, quoted")
			var hugeLine string
			sc := bufio.NewScanner(strings.NewReader(out))
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				if strings.Contains(sc.Text(), "xxxxxxxx") {
					hugeLine = sc.Text()
				}
			}
			require.NotEmpty(t, hugeLine)
			require.Less(t, len(hugeLine), maxLogValue+512, "the value is cut to maxLogValue bytes")
			require.Regexp(t, `…\(\d+ bytes\)`, hugeLine, "the full length is named")
			if tc.format == "json" {
				var v map[string]any
				require.NoError(t, json.Unmarshal([]byte(hugeLine), &v), "a cut value stays valid JSON")
			}
		})
	}
}

// TestReplayQuotesFileName: a file name is printed quoted, escapes and all.
func TestReplayQuotesFileName(t *testing.T) {
	_, stderr, code := runBinary(t, "", "replay", "missing-\x1b]0;pwned\x07.log")
	require.Equal(t, 1, code, stderr)
	require.Contains(t, stderr, `cannot open "missing-\x1b]0;pwned\a.log": no such file or directory`)
	require.NotContains(t, stderr, "\x1b")
}
