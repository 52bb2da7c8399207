// Package scripts tests the shell scripts of the repository: install-prometheus.sh runs here with
// stub id, sudo and apt-get on a PATH without the packages, so every branch runs on any machine
// and installs nothing.
package scripts

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// stub is the text of a stub command: it logs "NAME ARGS" to $STUB_LOG, and apt-get also logs
// the policy-rc.d it finds while installing, as a post-install script would.
const stub = `#!/bin/sh
echo "$(basename "$0") $*" >>"$STUB_LOG"
case "$(basename "$0")" in
id) echo "$STUB_UID" ;;
sudo) exec "$@" ;;
apt-get)
	if [ "$1" = install ]; then
		if [ -e "$POLICY_RC_D" ]; then echo "policy during install: $(cat "$POLICY_RC_D" | tr '\n' ' ')" >>"$STUB_LOG"; fi
		exit "${STUB_INSTALL_STATUS:-0}"
	fi ;;
esac
exit 0
`

// env is one run's machine: a PATH holding only the stubs and the few tools the script uses.
type env struct {
	bin, log, policy string
}

func newEnv(t *testing.T, withSudo bool, present ...string) env {
	t.Helper()
	dir := t.TempDir()
	e := env{bin: filepath.Join(dir, "bin"), log: filepath.Join(dir, "calls.log"), policy: filepath.Join(dir, "policy-rc.d")}
	require.NoError(t, os.Mkdir(e.bin, 0o755))
	stubs := append([]string{"id", "apt-get"}, present...)
	if withSudo {
		stubs = append(stubs, "sudo")
	}
	for _, n := range stubs {
		require.NoError(t, os.WriteFile(filepath.Join(e.bin, n), []byte(stub), 0o755))
	}
	for _, tool := range []string{"tee", "chmod", "rm", "cat", "tr", "basename"} {
		p, err := exec.LookPath(tool)
		require.NoError(t, err)
		require.NoError(t, os.Symlink(p, filepath.Join(e.bin, tool)))
	}
	return e
}

// run runs the script with shell (sh as on Debian, bash as make runs it) as user uid.
func (e env) run(t *testing.T, shell, uid string, extra ...string) (string, int) {
	t.Helper()
	sh, err := exec.LookPath(shell)
	require.NoError(t, err)
	cmd := exec.Command(sh, "install-prometheus.sh")
	cmd.Env = append([]string{"PATH=" + e.bin, "STUB_LOG=" + e.log, "STUB_UID=" + uid, "POLICY_RC_D=" + e.policy}, extra...)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return string(out), code
}

func (e env) calls(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(e.log)
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	for i := range lines {
		lines[i] = strings.TrimSpace(lines[i])
	}
	return lines
}

const install = "apt-get install -y -qq --no-install-recommends prometheus prometheus-alertmanager mtail git chromium etcd-server kubectl"

func TestInstallScript(t *testing.T) {
	for _, shell := range []string{"sh", "bash"} {
		t.Run(shell, func(t *testing.T) {
			t.Run("root, no policy-rc.d: created for the install, removed after", func(t *testing.T) {
				e := newEnv(t, false)
				out, code := e.run(t, shell, "0")
				require.Equal(t, 0, code, out)
				require.Equal(t, []string{"id -u", "apt-get update -qq", install,
					"policy during install: #!/bin/sh exit 101"}, e.calls(t))
				require.NoFileExists(t, e.policy)
				require.Contains(t, out, "installed prometheus prometheus-alertmanager mtail git chromium etcd-server kubectl")
			})
			t.Run("root, policy-rc.d already there: exit 0 and the file untouched", func(t *testing.T) {
				e := newEnv(t, false)
				const mine = "#!/bin/sh\n# the image's own policy\nexit 0\n"
				require.NoError(t, os.WriteFile(e.policy, []byte(mine), 0o700))
				out, code := e.run(t, shell, "0")
				require.Equal(t, 0, code, out)
				require.Contains(t, e.calls(t), install)
				b, err := os.ReadFile(e.policy)
				require.NoError(t, err)
				require.Equal(t, mine, string(b))
				st, err := os.Stat(e.policy)
				require.NoError(t, err)
				require.Equal(t, os.FileMode(0o700), st.Mode().Perm())
			})
			t.Run("not root, with sudo: every change through sudo", func(t *testing.T) {
				e := newEnv(t, true)
				out, code := e.run(t, shell, "1000")
				require.Equal(t, 0, code, out)
				calls := e.calls(t)
				require.Contains(t, calls, "sudo "+install)
				require.Contains(t, calls, "sudo apt-get update -qq")
				require.Contains(t, calls, "sudo rm -f "+e.policy)
				require.NoFileExists(t, e.policy)
			})
			t.Run("not root, no sudo: exit 1 naming the packages, nothing installed", func(t *testing.T) {
				e := newEnv(t, false)
				out, code := e.run(t, shell, "1000")
				require.Equal(t, 1, code, out)
				require.Contains(t, out, "need root or sudo to install: prometheus prometheus-alertmanager mtail git chromium etcd-server kubectl")
				require.Equal(t, []string{"id -u"}, e.calls(t))
			})
			t.Run("install fails: its status, and the created policy-rc.d removed", func(t *testing.T) {
				e := newEnv(t, false)
				out, code := e.run(t, shell, "0", "STUB_INSTALL_STATUS=100")
				require.Equal(t, 100, code, out)
				require.NoFileExists(t, e.policy)
			})
			t.Run("some installed: only the missing packages", func(t *testing.T) {
				e := newEnv(t, false, "promtool", "prometheus", "git", "chromium", "etcd", "kubectl")
				out, code := e.run(t, shell, "0")
				require.Equal(t, 0, code, out)
				require.Contains(t, e.calls(t), "apt-get install -y -qq --no-install-recommends prometheus-alertmanager mtail")
			})
			t.Run("Debian's alertmanager binary name counts as installed", func(t *testing.T) {
				e := newEnv(t, false, "promtool", "prometheus", "amtool", "prometheus-alertmanager", "mtail", "git", "chromium", "etcd", "kubectl")
				out, code := e.run(t, shell, "0")
				require.Equal(t, 0, code, out)
				require.Empty(t, e.calls(t))
			})
			t.Run("everything installed: nothing run", func(t *testing.T) {
				e := newEnv(t, false, "promtool", "prometheus", "amtool", "alertmanager", "mtail", "git", "chromium", "etcd", "kubectl")
				out, code := e.run(t, shell, "0")
				require.Equal(t, 0, code, out)
				require.Empty(t, e.calls(t))
				require.NoFileExists(t, e.policy)
			})
		})
	}
}
