package deploy

import (
	"bufio"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/fallbackwatch/fallbackwatch/internal/realtools"
)

// instruction is one Dockerfile instruction with its continuation lines joined.
type instruction struct {
	line int
	cmd  string // upper case: FROM, RUN, COPY, USER, ...
	args string
}

func parseDockerfile(t *testing.T, path string) []instruction {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var out []instruction
	var cur strings.Builder
	start, n := 0, 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if cur.Len() == 0 && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if cur.Len() == 0 {
			start = n
		}
		if strings.HasSuffix(line, "\\") {
			cur.WriteString(strings.TrimSuffix(line, "\\") + " ")
			continue
		}
		cur.WriteString(line)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, instruction{line: start, cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)})
		cur.Reset()
	}
	require.NoError(t, sc.Err())
	known := map[string]bool{"FROM": true, "ARG": true, "WORKDIR": true, "COPY": true, "RUN": true, "USER": true,
		"EXPOSE": true, "ENTRYPOINT": true, "CMD": true, "ENV": true, "LABEL": true}
	for _, in := range out {
		require.True(t, known[in.cmd], "%s:%d: unknown instruction %q", path, in.line, in.cmd)
	}
	return out
}

// TestDockerfile checks the image build without Docker: a golang build stage, a distroless/static
// (or scratch) final stage running as 65532, and a build command that — run here exactly as the
// Dockerfile runs it — yields static binaries with no ELF interpreter and no shared libraries.
func TestDockerfile(t *testing.T) {
	ins := parseDockerfile(t, "Dockerfile")
	var froms []instruction
	var build string
	user := ""
	for _, in := range ins {
		switch in.cmd {
		case "FROM":
			froms = append(froms, in)
			user = "" // USER is per stage
		case "RUN":
			if strings.Contains(in.args, "go build") {
				build = in.args
			}
		case "USER":
			user = in.args
		}
	}
	require.Len(t, froms, 2, "a build stage and a final stage")
	require.True(t, strings.HasPrefix(froms[0].args, "golang:"), "build stage: %s", froms[0].args)
	require.True(t, strings.HasSuffix(froms[0].args, " AS build"), "build stage is named build: %s", froms[0].args)
	final := froms[1].args
	require.True(t, strings.HasPrefix(final, "gcr.io/distroless/static") || final == "scratch", "final stage: %s", final)
	require.Equal(t, "65532:65532", user, "the final stage runs as the non-root user 65532")

	require.Contains(t, build, "CGO_ENABLED=0")
	require.Contains(t, build, "-o /out/ ./cmd/collector ./cmd/alertgen")
	out := t.TempDir()
	cmdline := strings.ReplaceAll(build, "${VERSION}", "deploy-test")
	cmdline = strings.ReplaceAll(cmdline, "-o /out/", "-o "+out+"/")
	cmd := exec.Command("sh", "-c", cmdline)
	cmd.Dir = ".."
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s:\n%s", cmdline, b)
	for _, name := range []string{"collector", "alertgen"} {
		f, err := elf.Open(filepath.Join(out, name))
		require.NoError(t, err, name)
		for _, p := range f.Progs {
			require.NotEqual(t, elf.PT_INTERP, p.Type, "%s has an ELF interpreter: it is not static", name)
			require.NotEqual(t, elf.PT_DYNAMIC, p.Type, "%s has a dynamic section", name)
		}
		libs, err := f.ImportedLibraries()
		require.NoError(t, err)
		require.Empty(t, libs, name)
		require.NoError(t, f.Close())
		v, err := exec.Command(filepath.Join(out, name), "--version").Output()
		require.NoError(t, err, "%s --version", name)
		require.True(t, strings.HasPrefix(string(v), name+", version deploy-test "), "%s --version: %s", name, v)
	}
	// The entrypoint is a binary the build stage produced and the final stage copies.
	var copyLine, entry string
	for _, in := range ins {
		switch in.cmd {
		case "COPY":
			if strings.HasPrefix(in.args, "--from=build ") {
				copyLine = in.args
			}
		case "ENTRYPOINT":
			entry = in.args
		}
	}
	require.Equal(t, "--from=build /out/collector /out/alertgen /usr/local/bin/", copyLine)
	require.Equal(t, `["/usr/local/bin/collector"]`, entry)
}

// TestKustomizeBuild renders both kustomizations with kubectl's built-in kustomize (Debian's kubectl
// package; make deps installs it) and requires the routing ConfigMap reference to follow the
// generated name. Without kubectl it skips, and fails under CI=true.
func TestKustomizeBuild(t *testing.T) {
	kubectl := realtools.Path(t, "install Debian's kubectl package (make deps)", "kubectl")
	for _, dir := range []string{".", "kafka", "tls", "tls/kafka"} {
		t.Run(dir, func(t *testing.T) {
			out, err := exec.Command(kubectl, "kustomize", dir).Output()
			require.NoError(t, err, "kubectl kustomize %s", dir)
			dec := yaml.NewDecoder(strings.NewReader(string(out)))
			kinds := map[string]int{}
			var routingCM, mounted string
			for {
				var d map[string]any
				if dec.Decode(&d) != nil {
					break
				}
				kind := d["kind"].(string)
				kinds[kind]++
				name := d["metadata"].(map[string]any)["name"].(string)
				if kind == "ConfigMap" && strings.HasPrefix(name, "fallbackwatch-routing-") {
					routingCM = name
				}
				if kind == "DaemonSet" || kind == "Deployment" {
					spec := d["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)
					for _, v := range list(spec["volumes"]) {
						if cm, ok := v.(map[string]any)["configMap"].(map[string]any); ok && v.(map[string]any)["name"] == "routing" {
							mounted = cm["name"].(string)
						}
					}
				}
			}
			require.NotEmpty(t, routingCM)
			require.Equal(t, routingCM, mounted, "the collectors mount the generated routing ConfigMap")
			require.Equal(t, 1, kinds["PrometheusRule"])
			if strings.HasSuffix(dir, "kafka") {
				require.Equal(t, 3, kinds["ConfigMap"], "routing, dashboards and Kafka settings")
				require.Equal(t, 1, kinds["Deployment"])
				require.Equal(t, 1, kinds["ServiceMonitor"])
				require.Equal(t, 1, kinds["Service"])
			} else {
				require.Equal(t, 2, kinds["ConfigMap"], "routing and dashboards")
				require.Equal(t, 1, kinds["DaemonSet"])
				require.Equal(t, 1, kinds["PodMonitor"])
			}
		})
	}
}

// TestKustomizeKubeRouting renders the two overlays that read routing from the Kubernetes API:
// the collectors pass the flag that names the source and no --routing file, every flag is one
// of `collector run`, the in-cluster one mounts a token bound to the RBAC of rbac.yaml, and the
// ASM one mounts the kubeconfig Secret without shipping it (a placeholder must never replace it).
func TestKustomizeKubeRouting(t *testing.T) {
	kubectl := realtools.Path(t, "install Debian's kubectl package (make deps)", "kubectl")
	flags := binaryFlags(t, "run")
	for _, tc := range []struct {
		dir, source string
		kinds       map[string]int
	}{
		{"kube-routing", "--routing.kubernetes", map[string]int{"ClusterRole": 1, "ClusterRoleBinding": 1, "Secret": 0}},
		{"kube-routing/asm", "--routing.kubeconfig=/etc/fallbackwatch/asm/kubeconfig", map[string]int{"Secret": 0}},
	} {
		t.Run(tc.dir, func(t *testing.T) {
			out, err := exec.Command(kubectl, "kustomize", tc.dir).Output()
			require.NoError(t, err, "kubectl kustomize %s", tc.dir)
			dec := yaml.NewDecoder(strings.NewReader(string(out)))
			kinds := map[string]int{}
			var args []any
			var spec map[string]any
			for {
				var d map[string]any
				if dec.Decode(&d) != nil {
					break
				}
				kinds[d["kind"].(string)]++
				if d["kind"] == "DaemonSet" {
					spec = d["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)
					args = list(list(spec["containers"])[0].(map[string]any)["args"])
				}
			}
			require.Equal(t, 1, kinds["DaemonSet"])
			for k, n := range tc.kinds {
				require.Equal(t, n, kinds[k], "%s objects", k)
			}
			require.Contains(t, args, tc.source)
			for _, a := range args[1:] {
				s := a.(string)
				require.False(t, strings.HasPrefix(s, "--routing="), "a --routing file beside the API: %s", s)
				if strings.HasPrefix(s, "-") {
					name := strings.SplitN(strings.TrimLeft(s, "-"), "=", 2)[0]
					require.True(t, flags[name], "flag %q is not a flag of `collector run`", s)
				}
			}
			if tc.source == "--routing.kubernetes" {
				require.Equal(t, true, spec["automountServiceAccountToken"])
			}
		})
	}
}
