package deploy

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/fallbackwatch/fallbackwatch/internal/clitest"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// manifests returns every YAML file under deploy/, relative to it.
func manifests(t *testing.T) []string {
	t.Helper()
	var out []string
	require.NoError(t, filepath.WalkDir(".", func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && (strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) {
			out = append(out, p)
		}
		return nil
	}))
	sort.Strings(out)
	require.NotEmpty(t, out)
	return out
}

// documents decodes every YAML document of path.
func documents(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	dec := yaml.NewDecoder(f)
	var docs []map[string]any
	for {
		var d map[string]any
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err, "%s: document %d", path, len(docs)+1)
		if d != nil {
			docs = append(docs, d)
		}
	}
	require.NotEmpty(t, docs, "%s has no YAML document", path)
	return docs
}

// TestYAMLDocumentsParse: every document is a Kubernetes object (or a kustomization) naming
// apiVersion, kind and metadata.name, and every file a kustomization names exists.
func TestYAMLDocumentsParse(t *testing.T) {
	for _, path := range manifests(t) {
		t.Run(path, func(t *testing.T) {
			for i, d := range documents(t, path) {
				require.NotEmpty(t, d["apiVersion"], "%s document %d: apiVersion", path, i+1)
				require.NotEmpty(t, d["kind"], "%s document %d: kind", path, i+1)
				if d["kind"] == "Kustomization" {
					checkKustomization(t, path, d)
					continue
				}
				meta, _ := d["metadata"].(map[string]any)
				require.NotEmpty(t, meta["name"], "%s document %d: metadata.name", path, i+1)
			}
		})
	}
}

func checkKustomization(t *testing.T, path string, k map[string]any) {
	t.Helper()
	dir := filepath.Dir(path)
	var refs []string
	for _, r := range list(k["resources"]) {
		refs = append(refs, r.(string))
	}
	for _, g := range list(k["configMapGenerator"]) {
		for _, f := range list(g.(map[string]any)["files"]) {
			refs = append(refs, f.(string))
		}
	}
	require.NotEmpty(t, refs, "%s names nothing", path)
	for _, r := range refs {
		_, err := os.Stat(filepath.Join(dir, r))
		require.NoError(t, err, "%s: resource %q", path, r)
	}
}

func list(v any) []any {
	l, _ := v.([]any)
	return l
}

// containers returns the containers of the workloads in the manifests that run the fallbackwatch
// image, with the file they come from and the ConfigMap literals their envFrom may name.
type container struct {
	file string
	name string
	args []string
	env  map[string]bool
}

func fallbackwatchContainers(t *testing.T) []container {
	t.Helper()
	literals := map[string]bool{}
	for _, path := range manifests(t) {
		for _, d := range documents(t, path) {
			if d["kind"] != "Kustomization" {
				continue
			}
			for _, g := range list(d["configMapGenerator"]) {
				for _, l := range list(g.(map[string]any)["literals"]) {
					literals[strings.SplitN(l.(string), "=", 2)[0]] = true
				}
			}
		}
	}
	var out []container
	for _, path := range manifests(t) {
		for _, d := range documents(t, path) {
			if d["kind"] != "DaemonSet" && d["kind"] != "Deployment" {
				continue
			}
			spec := d["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)
			for _, c := range list(spec["containers"]) {
				cm := c.(map[string]any)
				if !strings.HasPrefix(cm["image"].(string), "fallbackwatch") {
					continue
				}
				ct := container{file: path, name: cm["name"].(string), env: map[string]bool{}}
				for _, a := range list(cm["args"]) {
					ct.args = append(ct.args, a.(string))
				}
				if len(list(cm["envFrom"])) > 0 {
					ct.env = literals
				}
				out = append(out, ct)
			}
		}
	}
	require.Len(t, out, 2, "the DaemonSet's and the Kafka Deployment's collector")
	return out
}

var flagLineRE = regexp.MustCompile(`^\s+(?:-\w, )?--(?:\[no-\])?([a-zA-Z0-9][a-zA-Z0-9._-]*)`)

// binaryFlags builds the collector and returns the flags `collector <command> -h` lists.
func binaryFlags(t *testing.T, command string) map[string]bool {
	t.Helper()
	bins, err := clitest.Build(t.TempDir(), "./cmd/collector")
	require.NoError(t, err)
	res, err := clitest.Run(bins["collector"], "", "", command, "-h")
	require.NoError(t, err)
	flags := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(res.Stdout + res.Stderr))
	for sc.Scan() {
		if m := flagLineRE.FindStringSubmatch(sc.Text()); m != nil {
			flags[m[1]] = true
		}
	}
	require.Contains(t, flags, "web.listen-address", "collector %s -h output:\n%s", command, res.Stderr)
	return flags
}

var envRefRE = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// TestManifestFlagsExist: every flag the manifests pass to the collector is one the binary has,
// and every $(VAR) in them is defined by the ConfigMap the container reads its environment from.
func TestManifestFlagsExist(t *testing.T) {
	cs := fallbackwatchContainers(t)
	flags := binaryFlags(t, "run")
	for _, c := range cs {
		require.NotEmpty(t, c.args, "%s %s: no args", c.file, c.name)
		require.Equal(t, "run", c.args[0], "%s %s: the collector's command", c.file, c.name)
		for _, a := range c.args[1:] {
			for _, ref := range envRefRE.FindAllStringSubmatch(a, -1) {
				require.True(t, c.env[ref[1]], "%s %s: %q refers to $(%s), which no envFrom ConfigMap defines", c.file, c.name, a, ref[1])
			}
			if !strings.HasPrefix(a, "-") {
				continue // a source path or glob
			}
			name := strings.SplitN(strings.TrimLeft(a, "-"), "=", 2)[0]
			require.True(t, flags[name], "%s %s: flag %q is not a flag of `collector run`", c.file, c.name, a)
		}
	}
}

// copies are the generated files deploy/ carries, and their single source. `make
// deploy-generate` refreshes them.
var copies = []struct{ copy, source string }{
	{"bookinfo/prometheusrule.yaml", "../monitoring/bookinfo/sample2/prometheusrule.yaml"},
	{"bookinfo-dashboards/fallbackwatch-dashboards-configmap.yaml", "../monitoring/bookinfo/sample2/dashboards/fallbackwatch-dashboards-configmap.yaml"},
	{"bookinfo/routing/destinationrule.yaml", "../testdata/bookinfo/destinationrule.yaml"},
	{"bookinfo/routing/virtualservice.yaml", "../testdata/bookinfo/sample2.yaml"},
}

// TestGeneratedCopiesInSync: the rules, dashboards and routing configuration under deploy/ are
// exactly those generated and tested under monitoring/ and testdata/.
func TestGeneratedCopiesInSync(t *testing.T) {
	for _, c := range copies {
		t.Run(c.copy, func(t *testing.T) {
			want, err := os.ReadFile(c.source)
			require.NoError(t, err)
			got, err := os.ReadFile(c.copy)
			require.NoError(t, err)
			require.True(t, bytes.Equal(want, got), "deploy/%s differs from %s: run `make deploy-generate`", c.copy, c.source)
		})
	}
}
