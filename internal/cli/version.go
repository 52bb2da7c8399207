package cli

import (
	"runtime/debug"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/common/version"
)

// The build is described by the variables of github.com/prometheus/common/version, as every
// Prometheus exporter's is. A release build sets them with -ldflags:
//
//	-X github.com/prometheus/common/version.Version=1.2.0
//	-X github.com/prometheus/common/version.Revision=$(git rev-parse HEAD)
//	-X github.com/prometheus/common/version.Branch=$(git rev-parse --abbrev-ref HEAD)
//	-X github.com/prometheus/common/version.BuildDate=$(date -u +%Y%m%d-%H:%M:%S)
//
// What -ldflags leaves empty comes from the build information the Go toolchain embeds
// (runtime/debug.ReadBuildInfo): the module version, vcs.revision (with "-modified" when the tree
// had changes, vcs.modified) and vcs.time as the build date.
var fillVersion = sync.OnceFunc(func() {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return
	}
	if version.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		version.Version = bi.Main.Version
	}
	if version.Version == "" {
		version.Version = "devel"
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.time" && version.BuildDate == "" {
			version.BuildDate = s.Value
		}
	}
})

// Version is the text --version prints for program, in the layout of Prometheus' version.Print:
// version, branch, revision, build user, build date, Go version, platform and build tags.
func Version(program string) string {
	fillVersion()
	return version.Print(program)
}

// BuildInfo returns the fallbackwatch_build_info gauge, always 1, whose labels carry the same
// values --version prints: version, revision, branch, builddate, goversion, goos, goarch, tags.
func BuildInfo() prometheus.Collector {
	fillVersion()
	return versioncollector.NewCollector("fallbackwatch",
		versioncollector.WithExtraConstLabels(prometheus.Labels{"builddate": version.BuildDate}))
}
