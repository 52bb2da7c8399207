package routing

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/fallbackwatch/fallbackwatch/parse"
	"github.com/stretchr/testify/require"
)

// randomConfig writes a random valid configuration as YAML: one or two services, routes with
// prefix, header-only and catch-all matches, one to three weighted destinations with and
// without fallbacks, subsets that DestinationRules may or may not define.
func randomConfig(r *rand.Rand) (string, []string) {
	var b strings.Builder
	subsets := []string{"v1", "v2", "v3", "v4"}
	hosts := []string{"svc-a", "svc-b"}[:1+r.IntN(2)]
	for _, h := range hosts {
		fmt.Fprintf(&b, "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: %s, namespace: ns}\nspec:\n  host: %s\n  subsets:\n", h, h)
		for _, s := range subsets[:2+r.IntN(3)] {
			fmt.Fprintf(&b, "  - name: %s\n", s)
		}
		b.WriteString("---\n")
	}
	for _, h := range hosts {
		fmt.Fprintf(&b, "apiVersion: networking.istio.io/v1beta1\nkind: VirtualService\nmetadata: {name: %s-route, namespace: ns}\nspec:\n  hosts: [%s]\n  http:\n", h, h)
		nroutes := 1 + r.IntN(3)
		for i := 0; i < nroutes; i++ {
			switch {
			case i == nroutes-1:
			case r.IntN(4) == 0:
				b.WriteString("  - match: [{headers: {x-canary: {exact: \"1\"}}}]\n")
			default:
				fmt.Fprintf(&b, "  - match: [{uri: {prefix: /p%d}}]\n", i)
			}
			if i == nroutes-1 || !strings.HasSuffix(b.String(), "]\n") {
				b.WriteString("  - route:\n")
			} else {
				b.WriteString("    route:\n")
			}
			ndest := 1 + r.IntN(3)
			used := map[string]bool{}
			sum := 0
			for d := 0; d < ndest; d++ {
				s := subsets[r.IntN(len(subsets))]
				if used[s] {
					continue
				}
				used[s] = true
				fmt.Fprintf(&b, "    - destination: {host: %s, subset: %s}\n", h, s)
				w := r.IntN(4) * 25
				if d == ndest-1 && sum == 0 && w == 0 {
					w = 10
				}
				sum += w
				fmt.Fprintf(&b, "      weight: %d\n", w)
				if r.IntN(3) > 0 {
					t := subsets[r.IntN(len(subsets))]
					if t == s {
						t = "v1"
						if s == "v1" {
							t = "v2"
						}
					}
					th := h
					if r.IntN(5) == 0 {
						th = hosts[r.IntN(len(hosts))]
					}
					fmt.Fprintf(&b, "      fallback: {target: {host: %s, subset: %s}}\n", th, t)
				}
			}
		}
		b.WriteString("---\n")
	}
	return b.String(), hosts
}

type logRecord struct {
	Authority     string `json:"authority"`
	Method        string `json:"method"`
	Path          string `json:"path"`
	ResponseCode  int    `json:"response_code"`
	ResponseFlags string `json:"response_flags"`
	Upstream      string `json:"upstream_cluster"`
	FallbackPath  string `json:"fallback_path"`
	Final         string `json:"fallback_final_cluster_name"`
	Result        string `json:"fallback_result"`
	StartTime     string `json:"start_time"`
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// render writes a decision as the access-log record a sidecar would print (R15, R16, R18).
func render(req Request, d Decision) logRecord {
	res := ""
	switch d.Result {
	case parse.ResultSuccess:
		res = parse.ResultSuccessText
	case parse.ResultFailed:
		res = parse.ResultFailedText
	}
	return logRecord{Authority: req.Authority, Method: req.Method, Path: req.Path, ResponseCode: d.ResponseCode,
		ResponseFlags: d.Flags.String(), Upstream: dash(d.UpstreamCluster), FallbackPath: dash(strings.Join(d.FallbackPath, ":")),
		Final: dash(d.FinalCluster), Result: dash(res), StartTime: "2023-05-30T07:02:26.990Z"}
}

func checkRendered(t *testing.T, c *Config, lr logRecord) Verdict {
	t.Helper()
	line, err := json.Marshal(lr)
	require.NoError(t, err)
	rec := parseLine(t, line)
	return NewChecker(c, CheckOptions{}).Check(rec, time.Time{})
}

// TestPropertyDecideCheck: every decision Decide makes, written as a log record and parsed back,
// checks as consistent; changing one field of it makes it inconsistent.
func TestPropertyDecideCheck(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 17))
	mutated := map[string]int{}
	for n := 0; n < 300; n++ {
		yml, hosts := randomConfig(r)
		c, err := LoadBytes("random.yaml", []byte(yml), LoadOptions{})
		require.NoError(t, err, yml)
		var down []string
		for _, h := range hosts {
			for _, s := range []string{"v1", "v2", "v3", "v4"} {
				if r.IntN(3) == 0 {
					down = append(down, h+".ns.svc.cluster.local/"+s)
				}
			}
		}
		health := HealthSet{}.Down(down...)
		for k := 0; k < 10; k++ {
			req := Request{Authority: hosts[r.IntN(len(hosts))] + ".ns:8080", Method: "GET", Path: fmt.Sprintf("/p%d/x", r.IntN(3))}
			d := c.Decide(req, r.Float64(), health)
			lr := render(req, d)
			v := checkRendered(t, c, lr)
			require.Equal(t, Consistent, v.Kind, "%s\n%+v\n%s: %s", yml, lr, v.Rule, v.Message)
			if d.MatchUnknown {
				continue // another candidate route may fit a mutated record
			}
			for name, m := range mutations(d, lr) {
				v := checkRendered(t, c, m)
				require.Equal(t, Inconsistent, v.Kind, "mutation %s\n%s\n%+v", name, yml, m)
				require.NotEmpty(t, v.Message)
				mutated[name]++
			}
		}
	}
	for _, name := range []string{"final", "path", "result", "code"} {
		require.Greater(t, mutated[name], 20, "mutation %s exercised", name)
	}
}

// mutations changes one field of a rendered decision so that no configuration allows it.
func mutations(d Decision, lr logRecord) map[string]logRecord {
	out := map[string]logRecord{}
	if d.Flags.Has(parse.FlagNR) || d.Flags.Has(parse.FlagNC) || d.Route == nil || d.Route.Action != ActionRoute {
		m := lr
		m.Result = parse.ResultSuccessText
		out["result"] = m
		return out
	}
	other := "outbound|8080|zz|" + d.Destination.Host
	switch d.Result {
	case parse.ResultNone:
		m := lr
		m.Final = d.UpstreamCluster
		out["final"] = m
		m = lr
		m.FallbackPath = d.UpstreamCluster + ":" + other
		out["path"] = m
		m = lr
		m.Result = parse.ResultSuccessText
		out["result"] = m
	case parse.ResultSuccess:
		m := lr
		m.Final = d.FallbackPath[0]
		out["final"] = m
		m = lr
		m.FallbackPath = d.FallbackPath[0] + ":" + other
		out["path"] = m
		m = lr
		m.Result = parse.ResultFailedText
		out["result"] = m
	case parse.ResultFailed:
		m := lr
		m.Final = d.FallbackPath[1]
		out["final"] = m
		m = lr
		m.FallbackPath = d.FallbackPath[0] + ":" + other
		out["path"] = m
		m = lr
		m.Result = parse.ResultSuccessText
		out["result"] = m
		m = lr
		m.ResponseCode = 200
		out["code"] = m
	}
	return out
}
