package main

import (
	"bufio"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fallbackwatch/fallbackwatch/internal/clitest"
)

// release is what a release build passes with -ldflags (the Makefile's build line).
var release = map[string]string{
	"Version":   "1.2.3",
	"Revision":  "4b2e0f1c9d8a7b6e5f4d3c2b1a0918273645abcd",
	"Branch":    "release-1.2",
	"BuildUser": "builder@ci",
	"BuildDate": "20261202-11:00:00",
}

// TestVersion: --version prints the build in the layout of Prometheus' version.Print, on both
// commands and after a command name, and fallbackwatch_build_info carries the same values.
func TestVersion(t *testing.T) {
	var ld []string
	for k, v := range release {
		ld = append(ld, "-X", "github.com/prometheus/common/version."+k+"="+v)
	}
	bins, err := clitest.BuildWith(t.TempDir(), []string{"-ldflags", strings.Join(ld, " ")}, "./cmd/collector", "./cmd/alertgen")
	require.NoError(t, err)

	for _, tc := range []struct {
		program string
		args    []string
	}{
		{"collector", []string{"--version"}},
		{"collector", []string{"run", "--version"}},
		{"collector", []string{"replay", "--version"}},
		{"alertgen", []string{"--version"}},
	} {
		t.Run(strings.Join(append([]string{tc.program}, tc.args...), " "), func(t *testing.T) {
			res, err := clitest.Run(bins[tc.program], t.TempDir(), "", tc.args...)
			require.NoError(t, err)
			require.Equal(t, 0, res.Code, res.Stderr)
			lines := strings.Split(strings.TrimSpace(res.Stdout), "\n")
			require.Equal(t, tc.program+", version 1.2.3 (branch: release-1.2, revision: 4b2e0f1c9d8a7b6e5f4d3c2b1a0918273645abcd)", lines[0])
			require.Contains(t, lines, "  build user:       builder@ci")
			require.Contains(t, lines, "  build date:       20261202-11:00:00")
			require.Contains(t, lines, "  go version:       "+runtime.Version())
			require.Contains(t, lines, "  platform:         "+runtime.GOOS+"/"+runtime.GOARCH)
		})
	}

	p := startRunBin(t, bins["collector"], strings.NewReader(""), "-")
	p.waitStatus(t, "/metrics", http.StatusOK, 10*time.Second)
	_, body := p.get("/metrics")
	var info string
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "fallbackwatch_build_info{") {
			info = sc.Text()
		}
	}
	for _, l := range []string{`version="1.2.3"`, `revision="4b2e0f1c9d8a7b6e5f4d3c2b1a0918273645abcd"`, `branch="release-1.2"`,
		`builddate="20261202-11:00:00"`, `goversion="` + runtime.Version() + `"`} {
		require.Contains(t, info, l)
	}
	require.True(t, strings.HasSuffix(info, " 1"), info)
	p.stop(t)
}
