package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fallbackwatch/fallbackwatch/internal/kubetest"
)

// v2Served is a record that v2 served without any fallback. sample1 routes every request to
// v3, so it contradicts sample1 (C1); sample2 sends half of them to v2, so it agrees with it.
const v2Served = `{"authority":"reviews:9080","method":"GET","path":"/reviews/0","response_code":200,` +
	`"response_flags":"-","upstream_cluster":"outbound|9080|v2|reviews.default.svc.cluster.local",` +
	`"fallback_path":"-","fallback_final_cluster_name":"-","fallback_result":"-",` +
	`"start_time":"2023-05-30T07:02:26.990Z"}` + "\n"

// findingLine matches a lint finding's rule and message, leaving out where it is (a file or
// an object in the API).
var findingLine = regexp.MustCompile(`(?m)^\S+: (error|warning): (.*)$`)

// TestRoutingFromKubernetes runs the commands against a real kube-apiserver holding Istio's
// CRDs with ASM's fallback: lint reads the live objects as it reads files (same findings), and
// `collector run --routing.kubeconfig` judges records against them and changes verdict when a
// route changes through the API, with no SIGHUP.
func TestRoutingFromKubernetes(t *testing.T) {
	srv := kubetest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	admin := srv.Client(t)
	vsCRD, drCRD := kubetest.UpstreamIstioCRDs(t)
	asmCRD, err := kubetest.WithASMFallback(vsCRD)
	require.NoError(t, err)
	require.NoError(t, admin.Apply(ctx, asmCRD, drCRD))
	require.NoError(t, admin.WaitEstablished(ctx, asmCRD, drCRD))
	objects := func(name string) []byte { return readFile(t, filepath.Join(repoRoot(t), "testdata", "bookinfo", name)) }
	require.Eventually(t, func() bool {
		return admin.ApplyYAML(ctx, objects("destinationrule.yaml")) == nil && admin.ApplyYAML(ctx, objects("sample1.yaml")) == nil
	}, 20*time.Second, 200*time.Millisecond, "the extended CRD does not accept sample 1")
	kubeconfig := srv.Kubeconfig(t, kubetest.AdminUser)

	// lint: the same findings from the API as from the files, for a configuration with
	// findings of many rules, kept in a namespace of its own.
	const lintNS = "lint"
	require.NoError(t, admin.ApplyYAML(ctx, []byte("apiVersion: v1\nkind: Namespace\nmetadata: {name: "+lintNS+"}\n")))
	warnings, err := kubetest.Objects(readFile(t, filepath.Join(repoRoot(t), "routing", "testdata", "warnings.bad.yaml")))
	require.NoError(t, err)
	for _, o := range warnings {
		o.SetNamespace(lintNS)
	}
	require.NoError(t, admin.Apply(ctx, warnings...))
	fileOut, fileErr, fileCode := runBinary(t, "", "lint", "--namespace", lintNS, "--routing", "routing/testdata/warnings.bad.yaml")
	apiOut, apiErr, apiCode := runBinary(t, "", "lint", "--routing.kubeconfig", kubeconfig, "--routing.namespaces", lintNS)
	require.Equal(t, 3, fileCode, "files:\n%s%s", fileOut, fileErr)
	require.Equal(t, fileCode, apiCode, "files:\n%s%s\napi:\n%s%s", fileOut, fileErr, apiOut, apiErr)
	strip := func(s string) []string {
		var out []string
		for _, m := range findingLine.FindAllStringSubmatch(s, -1) {
			out = append(out, m[1]+": "+m[2])
		}
		return out
	}
	require.Len(t, strip(fileOut+fileErr), 6)
	require.Equal(t, strip(fileOut+fileErr), strip(apiOut+apiErr))
	require.Contains(t, apiOut+apiErr, "lint/reviews-route@rv", "findings name the object and its revision")

	// Both sources at once name no single configuration: a usage error.
	_, stderr, code := runBinary(t, "", "lint", "--routing", "testdata/bookinfo/sample1.yaml", "--routing.kubeconfig", kubeconfig)
	require.Equal(t, 2, code, stderr)
	require.Contains(t, stderr, "exclude each other")

	// run: records are judged against what the API serves now.
	stdinR, stdinW, err := os.Pipe()
	require.NoError(t, err)
	t.Cleanup(func() { stdinR.Close(); stdinW.Close() })
	p := startRun(t, stdinR, "--routing.kubeconfig", kubeconfig, "-")
	p.waitStatus(t, "/readyz", 200, 30*time.Second)
	_, err = stdinW.WriteString(v2Served)
	require.NoError(t, err)
	p.waitMetrics(t, "the record judged inconsistent against sample1", 20*time.Second, func(m metrics) bool {
		return m.sum("fallbackwatch_decisions_total", "verdict", "inconsistent") == 1
	})
	require.NoError(t, admin.ApplyYAML(ctx, objects("sample2.yaml")))
	require.Eventually(t, func() bool {
		if _, err := stdinW.WriteString(v2Served); err != nil {
			return false
		}
		m, err := p.tryScrape()
		return err == nil && m.sum("fallbackwatch_decisions_total", "verdict", "consistent") >= 1
	}, 20*time.Second, 500*time.Millisecond, "sample2 applied through the API did not reach the checks")
	m := p.scrape(t)
	require.Equal(t, 1.0, m.sum("fallbackwatch_config_last_reload_successful"))
	require.Equal(t, 1.0, m.sum("fallbackwatch_config_watch_up"))
	require.Equal(t, 2.0, m.sum("fallbackwatch_config_objects", "kind", "VirtualService"), "default's and lint's")
	p.stop(t)
	require.True(t, strings.Contains(p.stderr.String(), "routing configuration from the Kubernetes API applied"), p.stderr.String())
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return b
}
