package main

import (
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fallbackwatch/fallbackwatch/internal/clitest"
	"github.com/fallbackwatch/fallbackwatch/internal/realtools"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "regenerate the committed output under monitoring/")

// alertgenBin is the alertgen binary built once for the tests that run it as users do.
var alertgenBin string

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "alertgen-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bins, err := clitest.Build(dir, "./cmd/alertgen")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	alertgenBin = bins["alertgen"]
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// run runs the built alertgen from the module root with args, returning stdout, stderr and the
// exit code.
func run(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	res, err := clitest.Run(alertgenBin, repoRoot(t), "", args...)
	if err != nil {
		t.Fatalf("running alertgen %v: %v", args, err)
	}
	return res.Stdout, res.Stderr, res.Code
}

func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := clitest.ModuleRoot()
	require.NoError(t, err)
	return dir
}

// readTree returns every file under dir by relative path.
func readTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		out[rel] = string(b)
		return nil
	})
	require.NoError(t, err)
	return out
}

// committed lists the generated output committed under monitoring/ and the arguments that
// generate it (paths relative to the module root).
var committed = []struct {
	dir  string
	args []string
}{
	{"monitoring/bookinfo/sample1", []string{"--routing", "testdata/bookinfo/sample1.yaml", "--routing", "testdata/bookinfo/destinationrule.yaml",
		"--capacity", "monitoring/bookinfo/capacity.yaml", "--format", "rules,prometheusrule"}},
	{"monitoring/bookinfo/sample2", []string{"--routing", "testdata/bookinfo/sample2.yaml", "--routing", "testdata/bookinfo/destinationrule.yaml",
		"--capacity", "monitoring/bookinfo/capacity.yaml", "--format", "rules,prometheusrule"}},
	{"monitoring/generic", []string{"--format", "rules,prometheusrule"}},
}

// TestCommittedOutputIsCurrent regenerates the committed monitoring files and compares them with
// what alertgen writes now; -update rewrites them.
func TestCommittedOutputIsCurrent(t *testing.T) {
	for _, c := range committed {
		t.Run(c.dir, func(t *testing.T) {
			out := t.TempDir()
			if *update {
				out = filepath.Join(repoRoot(t), c.dir)
			}
			stdout, stderr, code := run(t, append(c.args, "--out", out)...)
			require.Equal(t, 0, code, stderr)
			require.Contains(t, stdout, "rules.yaml")
			got := readTree(t, out)
			want := readTree(t, filepath.Join(repoRoot(t), c.dir))
			for name := range want {
				if _, ok := got[name]; !ok && !*update {
					t.Errorf("%s/%s is committed but alertgen no longer writes it", c.dir, name)
				}
			}
			for name, b := range got {
				require.Equal(t, want[name], b, "%s/%s is stale: run go test ./cmd/alertgen -update", c.dir, name)
			}
			for _, f := range []string{"rules.yaml", "rules.test.yaml", "prometheusrule.yaml"} {
				require.Contains(t, got, f)
			}
			require.NotEmpty(t, dashboardFiles(got), "dashboards written")
		})
	}
}

func dashboardFiles(files map[string]string) []string {
	var out []string
	for n := range files {
		if strings.HasPrefix(n, "dashboards"+string(filepath.Separator)) {
			out = append(out, n)
		}
	}
	return out
}

// TestCommittedRulesPassPromtool runs promtool on the committed Bookinfo output, as make test does.
func TestCommittedRulesPassPromtool(t *testing.T) {
	bin := promtool(t)
	for _, c := range committed {
		t.Run(c.dir, func(t *testing.T) {
			dir := filepath.Join(repoRoot(t), c.dir)
			out, err := exec.Command(bin, "check", "rules", "--lint=all", "--lint-fatal", filepath.Join(dir, "rules.yaml")).CombinedOutput()
			require.NoError(t, err, "%s", out)
			out, err = exec.Command(bin, "test", "rules", filepath.Join(dir, "rules.test.yaml")).CombinedOutput()
			require.NoError(t, err, "%s", out)
		})
	}
}

func promtool(t *testing.T) string {
	t.Helper()
	return realtools.Path(t, realtools.Debian, "promtool")
}

// TestShortWindows is what an end-to-end test does: every window and `for` shortened by flags, and
// the generated promtool tests still pass.
func TestShortWindows(t *testing.T) {
	bin := promtool(t)
	out := t.TempDir()
	_, stderr, code := run(t, "--routing", "testdata/bookinfo/sample2.yaml", "--routing", "testdata/bookinfo/destinationrule.yaml",
		"--out", out, "--dashboards=false",
		"--window.short=10s", "--window.long=1m", "--window.baseline=2m",
		"--for.sustained-warning=20s", "--for.sustained-critical=10s", "--for.failed=5s", "--for.unprotected=5s",
		"--for.capacity=10s", "--for.failover=10s", "--for.inconsistent=10s", "--for.pipeline=10s", "--for.kafka-lag=10s")
	require.Equal(t, 0, code, stderr)
	rules, err := os.ReadFile(filepath.Join(out, "rules.yaml"))
	require.NoError(t, err)
	require.Contains(t, string(rules), "rate10s")
	require.Contains(t, string(rules), "for: 5s")
	require.NoDirExists(t, filepath.Join(out, "dashboards"))
	res, err := exec.Command(bin, "test", "rules", filepath.Join(out, "rules.test.yaml")).CombinedOutput()
	require.NoError(t, err, "%s", res)
}

func TestErrorsWriteNothing(t *testing.T) {
	routingArgs := []string{"--routing", "testdata/bookinfo/sample2.yaml", "--routing", "testdata/bookinfo/destinationrule.yaml"}
	dir := t.TempDir()
	undefined := filepath.Join(dir, "undefined.yaml")
	require.NoError(t, os.WriteFile(undefined, []byte("capacity:\n  reviews/v4: 10\n"), 0o644))
	unreadable := filepath.Join(dir, "unreadable.yaml")
	require.NoError(t, os.WriteFile(unreadable, []byte("capacity:\n  reviews/v2: 10\n"), 0o000))
	for _, c := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"missing capacity file", append(routingArgs, "--capacity", filepath.Join(dir, "missing.yaml")), 1, "missing.yaml"},
		{"capacity directory", append(routingArgs, "--capacity", dir), 1, "capacity file"},
		{"capacity for an undefined subset", append(routingArgs, "--capacity", undefined), 1, "reviews.default.svc.cluster.local/v4 is not defined"},
		{"invalid selector", append(routingArgs, "--selector", `{namespace=mesh}`), 1, `selector "{namespace=mesh}"`},
		{"selector on __name__", []string{"--selector", `{__name__="x"}`}, 1, "must not match __name__"},
		{"missing routing file", []string{"--routing", "testdata/bookinfo/nope.yaml"}, 1, "nope.yaml"},
		{"invalid window", []string{"--window.short=1h", "--window.long=1h"}, 1, "window.long 1h"},
		{"unparsable duration", []string{"--window.short=fast"}, 2, "window.short"},
		{"unknown flag", []string{"--bogus"}, 2, "bogus"},
		{"positional argument", []string{"sample2.yaml"}, 2, "unexpected sample2.yaml"},
		{"unknown flag, named in the message", []string{"--no-such-flag"}, 2, "unknown long flag '--no-such-flag'"},
		{"unparsable number", []string{"--threshold.failed=lots"}, 2, "--threshold.failed=lots"},
		{"unknown format", []string{"--format", "json"}, 2, `--format "json"`},
		{"capacity without routing", []string{"--capacity", "monitoring/bookinfo/capacity.yaml"}, 2, "--capacity needs --routing"},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			stdout, stderr, code := run(t, append(c.args, "--out", out)...)
			require.Equal(t, c.code, code, "stderr: %s", stderr)
			require.Contains(t, stderr, c.want)
			require.Empty(t, stdout)
			require.NoDirExists(t, out, "nothing is written on error")
		})
	}
	if os.Getuid() == 0 {
		t.Log("running as root: an unreadable capacity file is readable; skipped")
		return
	}
	out := filepath.Join(t.TempDir(), "out")
	_, stderr, code := run(t, append(routingArgs, "--capacity", unreadable, "--out", out)...)
	require.Equal(t, 1, code, stderr)
	require.Contains(t, stderr, "permission denied")
	require.NoDirExists(t, out)
}

func TestHelp(t *testing.T) {
	_, stderr, code := run(t, "-h")
	require.Equal(t, 0, code)
	for _, f := range []string{"--routing", "window.short", "for.failed", "threshold.capacity", "selector", "runbook-url"} {
		require.Contains(t, stderr, strings.TrimPrefix(f, "--"))
	}
}

// TestHelpNamesWhatIsMeasured: the unprotected-outage threshold measures 503 UH records with no
// fallback tried (fallbackwatch_upstream_unhealthy_total{result="none"}), not every 5xx.
func TestHelpNamesWhatIsMeasured(t *testing.T) {
	_, stderr, code := run(t, "--help")
	require.Equal(t, 0, code)
	require.NotContains(t, stderr, "5xx")
	require.Contains(t, stderr, "503 UH")
}
