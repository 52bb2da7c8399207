package cli

import (
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestFromBuildInfo: what -ldflags leaves empty comes from the build settings the Go toolchain
// records (the keys runtime/debug documents: vcs.revision, vcs.time, vcs.modified).
func TestFromBuildInfo(t *testing.T) {
	for _, tc := range []struct {
		name          string
		bi            *debug.BuildInfo
		version, date string
	}{
		{"no build information", nil, "devel", ""},
		{"built from a working tree", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
			{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: "4b2e0f1"}, {Key: "vcs.time", Value: "2026-11-30T09:15:00Z"}, {Key: "vcs.modified", Value: "true"},
		}}, "devel", "2026-11-30T09:15:00Z"},
		{"go install module@version", &debug.BuildInfo{Main: debug.Module{Version: "v1.4.0"}}, "v1.4.0", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, d := fromBuildInfo(tc.bi)
			require.Equal(t, tc.version, v)
			require.Equal(t, tc.date, d)
		})
	}
}
