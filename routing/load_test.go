package routing

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const reviews = "reviews.default.svc.cluster.local"

// bookinfo loads the seed's DestinationRule with one of its VirtualServices.
func bookinfo(t testing.TB, sample string) *Config {
	t.Helper()
	c, err := Load("../testdata/bookinfo/destinationrule.yaml", "../testdata/bookinfo/"+sample)
	require.NoError(t, err)
	return c
}

func TestLoadGood(t *testing.T) {
	files, err := filepath.Glob("testdata/*.good.*")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			c, err := Load(f)
			require.NoError(t, err)
			require.NotEmpty(t, c.VirtualServices)
			for _, x := range c.Lint() {
				require.NotEqual(t, SeverityError, x.Severity, "%s", x)
			}
		})
	}
}

func TestLoadSeed(t *testing.T) {
	c := bookinfo(t, "sample2.yaml")
	require.Len(t, c.VirtualServices, 1)
	vs := c.VirtualServices[0]
	require.Equal(t, "default/reviews-route", vs.ID())
	require.Equal(t, []string{reviews}, vs.Hosts, "R1: short host completed in the resource's namespace")
	r := vs.HTTP[0]
	require.Equal(t, "default/reviews-route#0", r.Label())
	require.Equal(t, 0, r.RetryAttempts, "R7: attempts 0")
	require.Len(t, r.Destinations, 2)
	d := r.Destinations[0]
	require.Equal(t, Endpoint{Host: reviews, Subset: "v3"}, d.Endpoint)
	require.Equal(t, Endpoint{Host: reviews, Subset: "v2"}, d.Fallback.Target)
	require.Equal(t, "outbound|9080|v3|"+reviews, d.Cluster(9080), "R2")
	require.Equal(t, []string{"v1", "v2", "v3"}, c.Subsets(reviews))
	require.Equal(t, 0.5, r.Share(d), "R6")
}

func TestLoadListAndVersions(t *testing.T) {
	c, err := Load("testdata/list.good.yaml", "testdata/multidoc.good.yaml", "testdata/json.good.json")
	require.NoError(t, err)
	require.Len(t, c.VirtualServices, 3)
	require.Len(t, c.DestinationRules, 2)
	require.Len(t, c.Ignored, 1, "the Service in the List is skipped")
	require.Contains(t, c.Ignored[0], "Service reviews")
	vs := c.VirtualServiceFor("reviews.bookinfo:9080")
	require.NotNil(t, vs)
	require.Equal(t, "bookinfo/reviews", vs.ID())
	require.Equal(t, "bookinfo/reviews#api", vs.HTTP[0].Label(), "R11: the http name labels the route")
	require.Equal(t, 9080, vs.HTTP[0].Destinations[0].Port)
	require.Equal(t, "default/details", c.VirtualServiceFor("details").ID())
}

func TestLoadDirectory(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"multidoc.good.yaml", "json.good.json"} {
		copyFile(t, filepath.Join("testdata", f), filepath.Join(dir, f))
	}
	c, err := Load(dir)
	require.NoError(t, err)
	require.Len(t, c.VirtualServices, 2)
}

// TestLoadBad: every problem is reported at once, each with file, line, column, resource and path.
func TestLoadBad(t *testing.T) {
	type want struct {
		line, col int
		path, msg string
	}
	cases := map[string][]want{
		"unknown-field.bad.yaml": {
			{12, 7, "spec.http[0].route[1].wieght", `unknown field "wieght"`},
			{15, 9, "spec.http[0].route[1].fallback.timeout", `unknown field "timeout"`},
		},
		"invalid-yaml.bad.yaml": {{5, 0, "", "invalid YAML"}},
		"structure.bad.yaml": {
			{6, 10, "spec.hosts", `want a list, got "reviews"`},
			{9, 20, "spec.http[0].match[0].uri.regex", "invalid RE2 regex"},
			{10, 12, "spec.http[0].match[1].uri", "exactly one of exact, prefix, regex"},
			{12, 20, "spec.http[0].route[0].destination", "destination without host"},
			{13, 15, "spec.http[0].route[0].weight", `want an integer, got "ten"`},
			{15, 3, "spec.tcp", "delegate virtual service must have no tcp route"},
			{17, 17, "spec.tcp[0].route[0].fallback", "only on http routes (R4)"},
			{19, 13, "apiVersion", `unsupported apiVersion "networking.istio.io/v2"`},
			{24, 1, "metadata.name", "without metadata.name"},
			{27, 3, "spec.host", "needs a host"},
			{28, 5, "spec.subsets[0]", "subset without name"},
		},
	}
	for file, wants := range cases {
		t.Run(file, func(t *testing.T) {
			path := filepath.Join("testdata", file)
			_, err := Load(path)
			require.Error(t, err)
			var le *LoadErrors
			require.True(t, errors.As(err, &le))
			require.Len(t, le.Errs, len(wants), "%v", err)
			for i, w := range wants {
				e := le.Errs[i]
				require.Equal(t, path, e.File)
				require.Equal(t, w.line, e.Line, "%s", e)
				if w.col > 0 {
					require.Equal(t, w.col, e.Column, "%s", e)
				}
				require.Equal(t, w.path, e.Path, "%s", e)
				require.Contains(t, e.Msg, w.msg)
			}
			var one *LoadError
			require.True(t, errors.As(err, &one), "errors.As finds a single *LoadError")
		})
	}
}

func TestLoadErrorText(t *testing.T) {
	_, err := Load("testdata/unknown-field.bad.yaml")
	require.Error(t, err)
	require.Contains(t, err.Error(),
		`testdata/unknown-field.bad.yaml:12:7: virtualservice default/reviews-route spec.http[0].route[1].wieght: unknown field "wieght"`)
	_, err = Load("testdata/does-not-exist.yaml")
	require.ErrorContains(t, err, "does-not-exist.yaml")
}

// TestLint: findings of the bad fixtures, by code, rule and line.
func TestLint(t *testing.T) {
	type want struct {
		sev  Severity
		code string
		rule string
		line int
		path string
	}
	cases := map[string][]want{
		"semantics.bad.yaml": {
			{SeverityError, CodeWeightSumZero, "R6", 14, "spec.http[0].route"},
			{SeverityError, CodeWeightNegative, "R6", 24, "spec.http[1].route[0].weight"},
			{SeverityError, CodeSubsetUndefined, "R5", 31, "spec.http[2].route[0].destination.subset"},
			{SeverityError, CodeFallbackTargetUndefined, "R3", 32, "spec.http[2].route[0].fallback.target.subset"},
			{SeverityError, CodeFallbackSelf, "R3", 37, "spec.http[3].route[0].fallback.target"},
			{SeverityError, CodeFallbackAmbiguous, "R12", 44, "spec.http[4].route[1]"},
		},
		"warnings.bad.yaml": {
			{SeverityWarning, CodeFallbackChain, "R17", 26, "spec.http[0].route[0].fallback.target"},
			{SeverityWarning, CodeFallbackCrossHost, "R3", 35, "spec.http[1].route[0].fallback.target.host"},
			{SeverityWarning, CodeFallbackMissing, "R14", 36, "spec.http[1].route[1]"},
			{SeverityWarning, CodeDuplicateMatch, "R8", 39, "spec.http[2].match[0]"},
			{SeverityWarning, CodeFallbackCase, "R13", 42, "spec.http[2].route[0].fallback.case"},
			{SeverityWarning, CodeUnreachableRoute, "R8", 46, "spec.http[4]"},
		},
	}
	for file, wants := range cases {
		t.Run(file, func(t *testing.T) {
			c, err := Load(filepath.Join("testdata", file))
			require.NoError(t, err)
			got := c.Lint()
			require.Len(t, got, len(wants), "%v", got)
			for i, w := range wants {
				g := got[i]
				require.Equal(t, w.sev, g.Severity, "%s", g)
				require.Equal(t, w.code, g.Code, "%s", g)
				require.Equal(t, w.rule, g.Rule, "%s", g)
				require.Equal(t, w.line, g.Line, "%s", g)
				require.Equal(t, w.path, g.Path, "%s", g)
				require.Equal(t, "virtualservice default/reviews-route", g.Resource)
				require.NotEmpty(t, g.Message)
			}
		})
	}
}

func TestLintSeed(t *testing.T) {
	require.Empty(t, bookinfo(t, "sample1.yaml").Lint())
	got := bookinfo(t, "sample2.yaml").Lint()
	require.Len(t, got, 1, "%v", got)
	require.Equal(t, CodeFallbackChain, got[0].Code, "R17: v3→v2→v1 does not cascade")
	require.True(t, strings.Contains(got[0].Message, "one hop"))
}

// TestLoadDelegateL4: a VirtualService without hosts is a delegate, and Istio rejects tcp and
// tls routes in a delegate.
func TestLoadDelegateL4(t *testing.T) {
	_, err := LoadBytes("d.yaml", []byte(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: d}
spec:
  hosts: []
  http:
  - route: [{destination: {host: a}}]
  tcp:
  - route: [{destination: {host: db}}]
`), LoadOptions{})
	require.EqualError(t, err, "d.yaml:9:3: virtualservice default/d spec.tcp: delegate virtual service must have no tcp route specified (a VirtualService without hosts is a delegate)")
}
