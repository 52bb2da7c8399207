// Package kubetest starts a real Kubernetes API server for tests: etcd (Debian's etcd-server)
// and kube-apiserver, built from the tools/kube-apiserver module by
// scripts/build-kube-apiserver.sh, both on 127.0.0.1 ports, with a self-signed serving
// certificate, a service-account key pair and a static token file. Both processes are stopped by
// pid when the test ends. It is for tests only.
//
// Without etcd or a buildable kube-apiserver the test is skipped with the reason, or fails
// under CI=true, where every real component must be there (make deps).
package kubetest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fallbackwatch/fallbackwatch/internal/clitest"
	"github.com/fallbackwatch/fallbackwatch/internal/realtools"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Users of the static token file. Admin is in system:masters; Watcher has no permissions until
// a test binds a role to it.
const (
	AdminUser    = "fallbackwatch-admin"
	WatcherUser  = "fallbackwatch-watcher"
	adminToken   = "admin-token-for-tests"
	watcherToken = "watcher-token-for-tests"
)

// Server is a running etcd and kube-apiserver.
type Server struct {
	// URL is the API server's https://127.0.0.1:<port>.
	URL string
	// Admin is a client configuration of AdminUser.
	Admin *rest.Config

	dir    string
	caPEM  []byte
	apiPID int
}

// Start starts etcd and kube-apiserver and waits until the API server is ready.
func Start(t testing.TB) *Server {
	t.Helper()
	etcd := lookEtcd(t)
	apiserver := buildAPIServer(t)
	dir := t.TempDir()

	etcdClient, err := clitest.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	etcdPeer, err := clitest.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	startProc(t, "etcd", etcd,
		"--name", "kubetest",
		"--data-dir", filepath.Join(dir, "etcd"),
		"--listen-client-urls", "http://"+etcdClient,
		"--advertise-client-urls", "http://"+etcdClient,
		"--listen-peer-urls", "http://"+etcdPeer,
		"--initial-advertise-peer-urls", "http://"+etcdPeer,
		"--initial-cluster", "kubetest=http://"+etcdPeer,
		"--logger", "zap", "--log-level", "warn")
	waitFor(t, "etcd", 30*time.Second, func() error { return getOK(http.DefaultClient, "http://"+etcdClient+"/health") })

	s := &Server{dir: dir}
	certFile, keyFile := filepath.Join(dir, "serving.crt"), filepath.Join(dir, "serving.key")
	s.caPEM = writeServingCert(t, certFile, keyFile)
	saKey := filepath.Join(dir, "sa.key")
	writeKey(t, saKey)
	tokens := filepath.Join(dir, "tokens.csv")
	writeFile(t, tokens, fmt.Sprintf("%s,%s,%s,\"system:masters\"\n%s,%s,%s\n",
		adminToken, AdminUser, AdminUser, watcherToken, WatcherUser, WatcherUser))

	addr, err := clitest.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(addr)
	s.URL = "https://" + addr
	p := startProc(t, "kube-apiserver", apiserver,
		"--etcd-servers", "http://"+etcdClient,
		"--bind-address", "127.0.0.1",
		"--advertise-address", "127.0.0.1",
		"--endpoint-reconciler-type", "none", // a loopback address has no kubernetes Endpoints
		"--secure-port", port,
		"--cert-dir", filepath.Join(dir, "certs"),
		"--tls-cert-file", certFile,
		"--tls-private-key-file", keyFile,
		"--token-auth-file", tokens,
		"--authorization-mode", "RBAC",
		"--service-account-issuer", "https://kubernetes.default.svc",
		"--service-account-key-file", saKey,
		"--service-account-signing-key-file", saKey,
		"--service-cluster-ip-range", "10.96.0.0/24",
		"--enable-priority-and-fairness=false",
		"--profiling=false")
	s.apiPID = p.Process.Pid
	s.Admin = s.config(adminToken)
	tr, err := rest.TransportFor(s.Admin)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	waitFor(t, "kube-apiserver", 60*time.Second, func() error { return getOK(client, s.URL+"/readyz") })
	// The namespace "default" is created by a controller of the server, shortly after it is ready.
	waitFor(t, "namespace default", 30*time.Second, func() error { return getOK(client, s.URL+"/api/v1/namespaces/default") })
	return s
}

func (s *Server) config(token string) *rest.Config {
	return &rest.Config{Host: s.URL, BearerToken: token, TLSClientConfig: rest.TLSClientConfig{CAData: s.caPEM},
		UserAgent: "kubetest"}
}

// Kubeconfig writes a kubeconfig file for AdminUser or WatcherUser, with one context named
// "test", and returns its path.
func (s *Server) Kubeconfig(t testing.TB, user string) string {
	t.Helper()
	token := map[string]string{AdminUser: adminToken, WatcherUser: watcherToken}[user]
	if token == "" {
		t.Fatalf("kubetest: no user %q", user)
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["test"] = &clientcmdapi.Cluster{Server: s.URL, CertificateAuthorityData: s.caPEM}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts["test"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: user}
	cfg.CurrentContext = "test"
	path := filepath.Join(s.dir, user+".kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// Kill kills the API server (not etcd) at once, as an outage would: its connections drop
// without a graceful shutdown. t.Cleanup does not mind.
func (s *Server) Kill(t testing.TB) {
	t.Helper()
	if err := syscall.Kill(s.apiPID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
}

// lookEtcd finds etcd on PATH or in $ETCD.
func lookEtcd(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("ETCD"); p != "" {
		return p
	}
	if p, err := exec.LookPath("etcd"); err == nil {
		return p
	}
	unavailable(t, "etcd not found on PATH (make deps installs Debian's etcd-server, or set ETCD)")
	return ""
}

// buildAPIServer returns $KUBE_APISERVER or builds kube-apiserver with the repository's script,
// which caches the binary.
func buildAPIServer(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("KUBE_APISERVER"); p != "" {
		return p
	}
	root, err := clitest.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	// The first build takes minutes (make deps does it ahead); it must end before the test's
	// deadline, with the go build it started.
	ctx := context.Background()
	if d, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if dl, ok := d.Deadline(); ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, dl.Add(-2*time.Minute))
			defer cancel()
		}
	}
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(root, "scripts", "build-kube-apiserver.sh"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var stderr clitest.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	out, err := cmd.Output()
	if err != nil {
		unavailable(t, fmt.Sprintf("cannot build kube-apiserver with scripts/build-kube-apiserver.sh (make deps builds it ahead): %v\n%s", err, tail(stderr.String(), 3000)))
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Logf("built kube-apiserver in %s", d.Round(time.Second))
	}
	return strings.TrimSpace(string(out))
}

func unavailable(t testing.TB, msg string) {
	t.Helper()
	realtools.Unavailable(t, msg)
}

// startProc starts bin with args; at cleanup it gets SIGTERM, then SIGKILL after 10 s, and is
// waited for. Its output is logged when the test failed.
func startProc(t testing.TB, name, bin string, args ...string) *exec.Cmd {
	t.Helper()
	var out clitest.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		unavailable(t, fmt.Sprintf("cannot start %s: %v", name, err))
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("%s (pid %d) output, last 6000 bytes:\n%s", name, cmd.Process.Pid, tail(out.String(), 6000))
		}
	})
	return cmd
}

func waitFor(t testing.TB, what string, timeout time.Duration, ok func() error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var err error
	for {
		if err = ok(); err == nil {
			return
		}
		select {
		case <-ctx.Done():
			unavailable(t, fmt.Sprintf("%s not ready after %s: %v", what, timeout, err))
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func getOK(c *http.Client, url string) error {
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

// writeServingCert writes a self-signed certificate for 127.0.0.1 and localhost and its key,
// and returns the certificate's PEM, which clients trust as their CA.
func writeServingCert(t testing.TB, certFile, keyFile string) []byte {
	t.Helper()
	key := writeKey(t, keyFile)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "kubetest"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	writeFile(t, certFile, string(certPEM))
	if _, err := tls.LoadX509KeyPair(certFile, keyFile); err != nil {
		t.Fatal(err)
	}
	return certPEM
}

func writeKey(t testing.TB, path string) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})))
	return key
}

func writeFile(t testing.TB, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
