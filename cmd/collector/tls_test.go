package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"
)

// pki is a CA with a server certificate for 127.0.0.1 and a client certificate, written as PEM
// files into a directory.
type pki struct {
	dir  string
	pool *x509.CertPool
	ca   *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "fallbackwatch test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	ca, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	p := &pki{dir: t.TempDir(), pool: x509.NewCertPool(), ca: ca, key: key}
	p.pool.AddCert(ca)
	p.write(t, "ca.crt", "CERTIFICATE", der)
	p.issue(t, "server", 2, x509.ExtKeyUsageServerAuth)
	p.issue(t, "client", 3, x509.ExtKeyUsageClientAuth)
	return p
}

func (p *pki) write(t *testing.T, name, typ string, der []byte) {
	t.Helper()
	require.NoError(t, os.WriteFile(filepath.Join(p.dir, name), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600))
}

// issue writes NAME.crt and NAME.key signed by the CA.
func (p *pki) issue(t *testing.T, name string, serial int64, usage x509.ExtKeyUsage) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.key)
	require.NoError(t, err)
	p.write(t, name+".crt", "CERTIFICATE", der)
	kder, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	p.write(t, name+".key", "EC PRIVATE KEY", kder)
}

// client returns an HTTPS client trusting the CA, presenting the client certificate if asked.
func (p *pki) client(t *testing.T, withCert bool) *http.Client {
	t.Helper()
	cfg := &tls.Config{RootCAs: p.pool, MinVersion: tls.VersionTLS12}
	if withCert {
		c, err := tls.LoadX509KeyPair(filepath.Join(p.dir, "client.crt"), filepath.Join(p.dir, "client.key"))
		require.NoError(t, err)
		cfg.Certificates = []tls.Certificate{c}
	}
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}}
}

// webConfig writes an exporter-toolkit web configuration next to the certificates.
func (p *pki) webConfig(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(p.dir, name)
	require.NoError(t, os.WriteFile(path, []byte(text), 0o600))
	return path
}

// get requests url with basic auth when user is not empty; code 0 means no HTTP answer.
func get(c *http.Client, url, user, pass string) (int, string, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

func waitHTTPS(t *testing.T, p *collectorProc, c *http.Client, user, pass string) {
	t.Helper()
	require.Eventually(t, func() bool {
		code, _, _ := get(c, "https://"+p.addr+"/healthz", user, pass)
		return code == http.StatusOK
	}, 10*time.Second, 50*time.Millisecond, "the collector answers over TLS; stderr:\n%s", p.stderr.String())
}

// TestRunTLSAndBasicAuth: with --web.config.file, /metrics, /healthz, /readyz and pprof answer
// only over TLS and only with the right credentials (bcrypt hash in the file).
func TestRunTLSAndBasicAuth(t *testing.T) {
	k := newPKI(t)
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret pass"), bcrypt.MinCost)
	require.NoError(t, err)
	cfg := k.webConfig(t, "web.yml", fmt.Sprintf("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"+
		"basic_auth_users:\n  prometheus: %s\n", hash))
	p := startRun(t, strings.NewReader(""), "--web.config.file", cfg, "--web.enable-pprof", "-")
	c := k.client(t, false)
	waitHTTPS(t, p, c, "prometheus", "s3cret pass")

	for _, path := range []string{"/metrics", "/healthz", "/readyz", "/debug/pprof/"} {
		t.Run(path, func(t *testing.T) {
			url := "https://" + p.addr + path
			code, body, err := get(c, url, "prometheus", "s3cret pass")
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, code, body)
			for _, creds := range [][2]string{{"", ""}, {"prometheus", "wrong"}, {"someone", "s3cret pass"}} {
				code, body, err = get(c, url, creds[0], creds[1])
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
	_, _, err = get(&http.Client{Timeout: 5 * time.Second}, "https://"+p.addr+"/metrics", "prometheus", "s3cret pass")
	require.ErrorContains(t, err, "certificate")

	_, body, err := get(c, "https://"+p.addr+"/metrics", "prometheus", "s3cret pass")
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
	cfg := k.webConfig(t, "web.yml", "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"+
		"  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n")
	p := startRun(t, strings.NewReader(""), "--web.config.file", cfg, "-")
	withCert := k.client(t, true)
	waitHTTPS(t, p, withCert, "", "")
	code, body, err := get(withCert, "https://"+p.addr+"/metrics", "", "")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "fallbackwatch_build_info")

	_, _, err = get(k.client(t, false), "https://"+p.addr+"/metrics", "", "")
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
