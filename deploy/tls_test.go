package deploy

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/fallbackwatch/fallbackwatch/internal/clitest"
)

// tlsObject returns the object of kind and name in deploy/tls/FILE.
func tlsObject(t *testing.T, file, kind, name string) map[string]any {
	t.Helper()
	for _, d := range documents(t, filepath.Join("tls", file)) {
		if meta, _ := d["metadata"].(map[string]any); d["kind"] == kind && meta["name"] == name {
			return d
		}
	}
	require.FailNowf(t, "missing object", "tls/%s has no %s %s", file, kind, name)
	return nil
}

func stringData(t *testing.T, secret map[string]any, key string) string {
	t.Helper()
	data, _ := secret["stringData"].(map[string]any)
	v, ok := data[key].(string)
	require.True(t, ok, "Secret %v has no stringData %q", secret["metadata"], key)
	return v
}

// TestTLSOverlay: the web configuration of deploy/tls, with certificates in place of the
// cluster's, makes a real collector serve TLS and accept exactly the credentials the PodMonitor
// and the ServiceMonitor scrape with; the collector patch mounts the configuration where
// --web.config.file points, next to the certificate files it names, and both monitors trust the
// CA of the same Secret.
func TestTLSOverlay(t *testing.T) {
	web := tlsObject(t, "common/secret.yaml", "Secret", "fallbackwatch-web-config")
	auth := tlsObject(t, "common/secret.yaml", "Secret", "fallbackwatch-scrape-auth")
	webConfig := stringData(t, web, "web-config.yml")
	user, pass := stringData(t, auth, "username"), stringData(t, auth, "password")

	var wc struct {
		TLS struct {
			Cert string `yaml:"cert_file"`
			Key  string `yaml:"key_file"`
		} `yaml:"tls_server_config"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(webConfig), &wc))
	require.Equal(t, "tls.crt", wc.TLS.Cert, "the certificate key of a kubernetes.io/tls or cert-manager Secret")
	require.Equal(t, "tls.key", wc.TLS.Key)

	// The patch: --web.config.file in the mounted directory, the directory projecting both Secrets.
	var k struct {
		Patches []struct {
			Path   string
			Target struct{ Kind, Name string }
			Patch  string
		}
	}
	b, err := os.ReadFile(filepath.Join("tls", "common", "kustomization.yaml"))
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal(b, &k))
	var ops []struct {
		Op, Path string
		Value    any
	}
	for _, p := range k.Patches {
		if p.Target.Kind == "DaemonSet|Deployment" {
			require.NoError(t, yaml.Unmarshal([]byte(p.Patch), &ops))
		}
	}
	var flag, mountPath string
	var projected []string
	for _, op := range ops {
		switch {
		case strings.HasSuffix(op.Path, "/args/-"):
			flag = op.Value.(string)
		case strings.HasSuffix(op.Path, "/volumeMounts/-"):
			mountPath = op.Value.(map[string]any)["mountPath"].(string)
		case strings.HasSuffix(op.Path, "/volumes/-"):
			for _, src := range list(op.Value.(map[string]any)["projected"].(map[string]any)["sources"]) {
				projected = append(projected, src.(map[string]any)["secret"].(map[string]any)["name"].(string))
			}
		}
	}
	name, file, ok := strings.Cut(flag, "=")
	require.True(t, ok, "the patch adds --web.config.file=PATH: %q", flag)
	require.True(t, binaryFlags(t, "run")[strings.TrimPrefix(name, "--")], "%s is a flag of collector run", name)
	require.Equal(t, mountPath, filepath.Dir(file))
	require.Equal(t, "web-config.yml", filepath.Base(file))
	require.Equal(t, []string{"fallbackwatch-web-config", "fallbackwatch-tls"}, projected)

	for _, m := range []struct{ file, kind, name, endpoints string }{
		{"podmonitor.yaml", "PodMonitor", "fallbackwatch-collector", "podMetricsEndpoints"},
		{"kafka/servicemonitor.yaml", "ServiceMonitor", "fallbackwatch-kafka", "endpoints"},
	} {
		mon := tlsObject(t, m.file, m.kind, m.name)
		ep := list(mon["spec"].(map[string]any)[m.endpoints])[0].(map[string]any)
		require.Equal(t, "https", ep["scheme"], m.file)
		tc := ep["tlsConfig"].(map[string]any)
		require.Equal(t, map[string]any{"name": "fallbackwatch-tls", "key": "ca.crt"}, tc["ca"].(map[string]any)["secret"], m.file)
		ba := ep["basicAuth"].(map[string]any)
		require.Equal(t, map[string]any{"name": "fallbackwatch-scrape-auth", "key": "username"}, ba["username"], m.file)
		require.Equal(t, map[string]any{"name": "fallbackwatch-scrape-auth", "key": "password"}, ba["password"], m.file)
	}

	// The configuration served by a real collector, with a test CA's certificate as tls.crt.
	dir := t.TempDir()
	pki, err := clitest.NewPKI(dir)
	require.NoError(t, err)
	require.NoError(t, os.Rename(filepath.Join(dir, "server.crt"), filepath.Join(dir, "tls.crt")))
	require.NoError(t, os.Rename(filepath.Join(dir, "server.key"), filepath.Join(dir, "tls.key")))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "web-config.yml"), []byte(webConfig), 0o600))
	bins, err := clitest.Build(t.TempDir(), "./cmd/collector")
	require.NoError(t, err)
	addr, err := clitest.FreeAddr()
	require.NoError(t, err)
	cmd := exec.Command(bins["collector"], "run", "--web.listen-address="+addr, "-", "--web.config.file="+filepath.Join(dir, "web-config.yml"))
	stderr := &clitest.Buffer{}
	cmd.Stderr = stderr
	cmd.WaitDelay = 5 * time.Second
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	c, err := pki.Client(false)
	require.NoError(t, err)
	url := "https://" + addr + "/metrics"
	require.Eventually(t, func() bool {
		code, _, _ := clitest.GetAuth(c, url, user, pass)
		return code == http.StatusOK
	}, 10*time.Second, 50*time.Millisecond, "the scrape credentials of fallbackwatch-scrape-auth get /metrics; stderr:\n%s", stderr.String())
	code, _, err := clitest.GetAuth(c, url, "", "")
	require.NoError(t, err)
	require.Equal(t, http.StatusUnauthorized, code)
}
