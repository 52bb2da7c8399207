// Package realtools finds the real programs fallbackwatch's tests run against: promtool,
// prometheus, alertmanager and mtail from Debian's packages (scripts/install-prometheus.sh, make
// deps) and kubectl for the kustomizations. A missing program skips the test on a developer's
// machine and fails it under CI=true, where every check must run: a check that did not run is
// never reported as passed. It is for tests only.
package realtools

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Path returns the path of the first of names found on PATH. When none is found it fails t under
// CI=true and skips it otherwise; install says how to get the program.
func Path(t testing.TB, install string, names ...string) string {
	t.Helper()
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	Unavailable(t, fmt.Sprintf("%s not found on PATH; %s", strings.Join(names, " or "), install))
	return ""
}

// Unavailable ends a test that cannot get a real component: under CI=true it fails, since make
// deps provides every component there; elsewhere it is skipped with msg.
func Unavailable(t testing.TB, msg string) {
	t.Helper()
	if InCI() {
		t.Fatal(msg)
		return
	}
	t.Skip(msg)
}

// InCI reports whether the tests run in CI (CI=true, which .ci/run sets).
func InCI() bool { return os.Getenv("CI") == "true" }

// Debian is the install hint for the programs scripts/install-prometheus.sh installs.
const Debian = "install it with scripts/install-prometheus.sh (make deps)"
