package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/fallbackwatch/fallbackwatch/internal/clitest"
)

// newPKI makes the test CA and certificates in a temporary directory.
func newPKI(t *testing.T) *clitest.PKI {
	t.Helper()
	k, err := clitest.NewPKI(t.TempDir())
	require.NoError(t, err)
	return k
}

func client(t *testing.T, k *clitest.PKI, withCert bool) *http.Client {
	t.Helper()
	c, err := k.Client(withCert)
	require.NoError(t, err)
	return c
}

// webConfig writes an exporter-toolkit web configuration next to the certificates.
func webConfig(t *testing.T, k *clitest.PKI, name, text string) string {
	t.Helper()
	path := filepath.Join(k.Dir, name)
	require.NoError(t, os.WriteFile(path, []byte(text), 0o600))
	return path
}

func waitHTTPS(t *testing.T, p *collectorProc, c *http.Client, user, pass string) {
	t.Helper()
	require.Eventually(t, func() bool {
		code, _, _ := clitest.GetAuth(c, "https://"+p.addr+"/healthz", user, pass)
		return code == http.StatusOK
	}, 10*time.Second, 50*time.Millisecond, "the collector answers over TLS; stderr:\n%s", p.stderr.String())
}

// TestRunTLSAndBasicAuth: with --web.config.file, /metrics, /healthz, /readyz and pprof answer
// only over TLS and only with the right credentials (bcrypt hash in the file).
func TestRunTLSAndBasicAuth(t *testing.T) {
	k := newPKI(t)
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret pass"), bcrypt.MinCost)
	require.NoError(t, err)
	cfg := webConfig(t, k, "web.yml", fmt.Sprintf("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"+
		"basic_auth_users:\n  prometheus: %s\n", hash))
	p := startRun(t, strings.NewReader(""), "--web.config.file", cfg, "--web.enable-pprof", "-")
	c := client(t, k, false)
	waitHTTPS(t, p, c, "prometheus", "s3cret pass")

	for _, path := range []string{"/metrics", "/healthz", "/readyz", "/debug/pprof/"} {
		t.Run(path, func(t *testing.T) {
			url := "https://" + p.addr + path
			code, body, err := clitest.GetAuth(c, url, "prometheus", "s3cret pass")
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, code, body)
			for _, creds := range [][2]string{{"", ""}, {"prometheus", "wrong"}, {"someone", "s3cret pass"}} {
				code, body, err = clitest.GetAuth(c, url, creds[0], creds[1])
				require.NoError(t, err)
				require.Equal(t, http.StatusUnauthorized, code, "user %q: %s", creds[0], body)
			}
			// Plain HTTP to the TLS port gets no content: Go's TLS server answers 400.
			code, body = p.get(path)
			require.NotEqual(t, http.StatusOK, code, body)
			require.NotContains(t, body, "fallbackwatch_")
		})
	}
	// A client that does not trust the CA gets no answer.
	_, _, err = clitest.GetAuth(&http.Client{Timeout: 5 * time.Second}, "https://"+p.addr+"/metrics", "prometheus", "s3cret pass")
	require.ErrorContains(t, err, "certificate")

	_, body, err := clitest.GetAuth(c, "https://"+p.addr+"/metrics", "prometheus", "s3cret pass")
	require.NoError(t, err)
	require.Contains(t, body, "fallbackwatch_config_last_reload_successful 1")

	// SIGHUP checks the web configuration: a broken file is logged, and the collector keeps running.
	require.NoError(t, os.WriteFile(cfg, []byte("tls_server_config: [\n"), 0o600))
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGHUP))
	require.Eventually(t, func() bool { return strings.Contains(p.stderr.String(), "reloading web configuration failed") },
		10*time.Second, 20*time.Millisecond)
	p.stop(t)
}

// TestRunTLSClientCertificate: with client_auth_type RequireAndVerifyClientCert, a client
// without a certificate signed by client_ca_file is refused during the handshake.
func TestRunTLSClientCertificate(t *testing.T) {
	k := newPKI(t)
	cfg := webConfig(t, k, "web.yml", "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"+
		"  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n")
	p := startRun(t, strings.NewReader(""), "--web.config.file", cfg, "-")
	withCert := client(t, k, true)
	waitHTTPS(t, p, withCert, "", "")
	code, body, err := clitest.GetAuth(withCert, "https://"+p.addr+"/metrics", "", "")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "fallbackwatch_build_info")

	_, _, err = clitest.GetAuth(client(t, k, false), "https://"+p.addr+"/metrics", "", "")
	require.Error(t, err, "no client certificate: the handshake fails")
	p.stop(t)
}

// TestRunBadWebConfig: a web configuration that does not load stops the collector before it
// starts, with exit 1 and the file named.
func TestRunBadWebConfig(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "web.yml")
	require.NoError(t, os.WriteFile(bad, []byte("tls_server_config:\n  cert_file: missing.crt\n  key_file: missing.key\n"), 0o600))
	_, stderr, code := runBinary(t, "", "run", "--web.listen-address=127.0.0.1:0", "--web.config.file", bad, "-")
	require.Equal(t, 1, code, stderr)
	require.Contains(t, stderr, "web configuration")
	require.NotContains(t, stderr, "collector started")
}
