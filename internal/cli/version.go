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
	bi, _ := debug.ReadBuildInfo()
	v, date := fromBuildInfo(bi)
	if version.Version == "" {
		version.Version = v
	}
	if version.BuildDate == "" {
		version.BuildDate = date
	}
})

// fromBuildInfo returns the version and build date the Go toolchain recorded: the main module's
// version ("devel" for a build from a working tree, "(devel)") and the commit time vcs.time.
func fromBuildInfo(bi *debug.BuildInfo) (ver, date string) {
	ver = "devel"
	if bi == nil {
		return ver, ""
	}
	if bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		ver = bi.Main.Version
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.time" {
			date = s.Value
		}
	}
	return ver, date
}

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
