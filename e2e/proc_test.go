package e2e

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/fallbackwatch/fallbackwatch/internal/clitest"
	"github.com/fallbackwatch/fallbackwatch/internal/realtools"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// Binaries built once by TestMain from this module.
var (
	collectorBin string
	alertgenBin  string
	repoRoot     string
)

func TestMain(m *testing.M) {
	code, err := buildAndRun(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(code)
}

func buildAndRun(m *testing.M) (int, error) {
	root, err := clitest.ModuleRoot()
	if err != nil {
		return 0, err
	}
	repoRoot = root
	dir, err := os.MkdirTemp("", "fallbackwatch-e2e-bin")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	bins, err := clitest.Build(dir, "./cmd/collector", "./cmd/alertgen")
	if err != nil {
		return 0, err
	}
	collectorBin, alertgenBin = bins["collector"], bins["alertgen"]
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			return 1, fmt.Errorf("goroutines left running after the tests: %w", err)
		}
	}
	return code, nil
}

// lookBinary finds the first of names on PATH. A missing binary skips the test, or fails it
// under CI=true, where every real component must be installed (make deps).
func lookBinary(t *testing.T, names ...string) string {
	t.Helper()
	return realtools.Path(t, realtools.Debian, names...)
}

// freeAddr returns a 127.0.0.1 address with a port nothing listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	addr, err := clitest.FreeAddr()
	require.NoError(t, err)
	return addr
}

// proc is a process the test started; it is stopped by pid at cleanup whatever happens.
type proc struct {
	name string
	addr string // the 127.0.0.1 address it serves HTTP on
	cmd  *exec.Cmd
	out  *clitest.Buffer
	done chan struct{}
	err  error // Wait's result, valid after done
}

// startProc starts bin with args. At cleanup the process gets SIGTERM, then SIGKILL after 10 s,
// and is waited for; its output is logged when the test failed.
func startProc(t *testing.T, name, addr, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, addr: addr, out: &clitest.Buffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Dir = t.TempDir()
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	require.NoError(t, p.cmd.Start(), "starting %s", name)
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.terminate(10 * time.Second)
		if t.Failed() {
			t.Logf("%s (pid %d) output, last 6000 bytes:\n%s", p.name, p.cmd.Process.Pid, tail(p.out.String(), 6000))
		}
	})
	return p
}

// terminate sends SIGTERM, waits up to grace, then kills; it returns once the process is gone.
func (p *proc) terminate(grace time.Duration) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// stop ends the process with SIGTERM and requires a clean exit.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	p.terminate(15 * time.Second)
	require.NoError(t, p.err, "%s exit after SIGTERM; output:\n%s", p.name, tail(p.out.String(), 4000))
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// httpClient talks to the Prometheus and Alertmanager the story starts.
var httpClient = &http.Client{Timeout: 5 * time.Second}

// get returns the status and body of http://addr/path, or 0 and the error text.
func (p *proc) get(path string) (int, string) { return clitest.Get(p.addr, path) }

// waitHTTP polls path until it answers 200, failing when the process exits or within passes.
func (p *proc) waitHTTP(t *testing.T, path string, within time.Duration) {
	t.Helper()
	eventually(t, within, 100*time.Millisecond, func() (bool, string) {
		select {
		case <-p.done:
			require.FailNow(t, p.name+" exited", "%v; output:\n%s", p.err, tail(p.out.String(), 3000))
		default:
		}
		code, body := p.get(path)
		return code == http.StatusOK, fmt.Sprintf("%s %s: %d %s", p.name, path, code, tail(body, 300))
	})
}

// eventually polls cond every interval until it holds; after within it fails with cond's last
// message. A process that exited is reported at once by conditions that check it.
func eventually(t *testing.T, within, interval time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok, msg := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			require.FailNow(t, "condition not met within "+within.String(), msg)
		}
		time.Sleep(interval)
	}
}

// writeFileAtomic writes b to path through a temporary file renamed into place, as a
// ConfigMap volume update does.
func writeFileAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return errors.Join(err, os.Remove(tmp))
	}
	return nil
}
