package routing

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const shopReviews = "reviews.shop.svc.cluster.local"

func shopCluster(subset string) string { return "outbound|9080|" + subset + "|" + shopReviews }

// TestDelegateDecide: a root route with delegate hands its requests to the delegate's routes,
// matched with root ∧ delegate (Istio's MergeHTTPRoutes); the delegate's destinations and
// fallbacks decide (R8, R12–R15).
func TestDelegateDecide(t *testing.T) {
	c, err := Load("testdata/delegate.good.yaml")
	require.NoError(t, err)
	require.Empty(t, c.Lint())
	vs := c.VirtualServiceFor("reviews.shop:9080")
	require.NotNil(t, vs)
	require.False(t, vs.IsDelegate())
	require.Len(t, vs.HTTP, 2, "as written")
	require.Len(t, vs.Routes(), 3, "the delegating route is replaced by the delegate's two routes")
	require.Nil(t, c.VirtualServiceFor("reviews-api.team"), "a delegate has no hosts")

	cases := []struct {
		name, path, route, up string
		down                  []string
		final                 string
	}{
		{"root ∧ delegate match: /api/v2", "/api/v2/books", "team/reviews-api#v2", shopCluster("v2"), nil, ""},
		{"delegate route without match takes the root's match", "/api/v1", "team/reviews-api#other-api", shopCluster("v3"), nil, ""},
		{"outside the root match: the next root route", "/health", "shop/reviews#rest", shopCluster("v1"), nil, ""},
		{"the delegate's fallback (R15)", "/api/v2/x", "team/reviews-api#v2", shopCluster("v1"), []string{shopReviews + "/v2"}, shopCluster("v1")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := c.Decide(Request{Authority: "reviews.shop:9080", Method: "GET", Path: tc.path}, 0, HealthSet{}.Down(tc.down...))
			require.NotNil(t, d.Route)
			require.Equal(t, tc.route, d.Route.Label())
			require.Equal(t, tc.up, d.UpstreamCluster)
			require.Equal(t, tc.final, d.FinalCluster)
			if d.Route.VirtualService.ID() == "team/reviews-api" {
				require.NotNil(t, d.Route.Via, "a merged route names the root route it came through")
				require.Equal(t, "shop/reviews#api", d.Route.Via.Label())
			}
		})
	}
}

// TestDelegateCheck: records are judged against the delegate's destinations and fallbacks (C1, C2).
func TestDelegateCheck(t *testing.T) {
	c, err := Load("testdata/delegate.good.yaml")
	require.NoError(t, err)
	rec := func(path string, f map[string]any) map[string]any {
		f["authority"], f["path"] = "reviews.shop:9080", path
		return f
	}
	cases := []struct {
		name   string
		fields map[string]any
		kind   VerdictKind
		rule   string
		route  string
	}{
		{"C2 the delegate's fallback", rec("/api/v2/x", map[string]any{"upstream_cluster": shopCluster("v1"), "fallback_path": shopCluster("v2") + ":" + shopCluster("v1"),
			"fallback_result": "fallback successful", "fallback_final_cluster_name": shopCluster("v1")}), Consistent, "", "team/reviews-api#v2"},
		{"C1 the delegate's destination", rec("/api/x", map[string]any{"upstream_cluster": shopCluster("v3")}), Consistent, "", "team/reviews-api#other-api"},
		{"C1 not the delegate route's destination", rec("/api/x", map[string]any{"upstream_cluster": shopCluster("v2")}), Inconsistent, "C1", "team/reviews-api#other-api"},
		{"C1 root route after the delegation", rec("/health", map[string]any{"upstream_cluster": shopCluster("v1")}), Consistent, "", "shop/reviews#rest"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := NewChecker(c, CheckOptions{}).Check(parseLine(t, record(tc.fields)), time.Time{})
			require.Equal(t, tc.kind, v.Kind, "%s: %s", v.Rule, v.Message)
			require.Equal(t, tc.rule, v.Rule, v.Message)
			require.NotNil(t, v.Route)
			require.Equal(t, tc.route, v.Route.Label())
		})
	}
}

// TestDelegateSimulate: the delegate's routes are simulated with their own fallbacks (R15).
func TestDelegateSimulate(t *testing.T) {
	c, err := Load("testdata/delegate.good.yaml")
	require.NoError(t, err)
	sim, err := c.Simulate([]string{"reviews.shop/v3"})
	require.NoError(t, err)
	found := false
	for _, r := range sim.Routes {
		if r.VirtualService == "team/reviews-api" && r.Name == "other-api" {
			found = true
			require.Equal(t, map[string]float64{shopReviews + "/v1": 1}, r.Final, "v3 down falls back to v1")
			require.Zero(t, r.Failed)
		}
	}
	require.True(t, found, "%+v", sim.Routes)
}

// TestDelegateLint: what Istio reports about delegation (pilot's merge warnings and the
// validation of delegate VirtualServices), each at its place.
func TestDelegateLint(t *testing.T) {
	c, err := Load("testdata/delegate.bad.yaml")
	require.NoError(t, err)
	type want struct {
		sev      Severity
		code     string
		line     int
		resource string
	}
	wants := []want{
		{SeverityError, CodeDelegateMissing, 9, "virtualservice shop/root"},
		{SeverityError, CodeDelegateNotExported, 11, "virtualservice shop/root"},
		{SeverityWarning, CodeDelegateConflict, 31, "virtualservice shop/root"},
		{SeverityError, CodeDelegateGateways, 35, "virtualservice shop/nesting"},
		{SeverityError, CodeDelegateNested, 41, "virtualservice shop/nesting"},
	}
	got := c.Lint()
	require.Len(t, got, len(wants), "%v", got)
	for i, w := range wants {
		require.Equal(t, w.sev, got[i].Severity, "%s", got[i])
		require.Equal(t, w.code, got[i].Code, "%s", got[i])
		require.Equal(t, w.line, got[i].Line, "%s", got[i])
		require.Equal(t, w.resource, got[i].Resource, "%s", got[i])
		require.Equal(t, "R8", got[i].Rule)
	}
	// Istio ignores the routes it cannot resolve: /missing and /private fall through to the
	// catch-all, /a keeps only the delegate route that does not conflict.
	for path, want := range map[string]string{
		"/missing/x": "shop/root#4", "/private": "shop/root#4", "/a": "shop/conflicting#1", "/nested": "shop/root#4",
	} {
		d := c.Decide(Request{Authority: "reviews.shop", Path: path}, 0, nil)
		require.NotNil(t, d.Route, path)
		require.Equal(t, want, d.Route.Label(), path)
	}
}

// TestMergeMatches: Istio's conflict rules for root and delegate match blocks.
func TestMergeMatches(t *testing.T) {
	exact := func(v string) *StringMatch { return &StringMatch{Kind: MatchExact, Value: v} }
	prefix := func(v string) *StringMatch { return &StringMatch{Kind: MatchPrefix, Value: v} }
	regex := func(v string) *StringMatch { return &StringMatch{Kind: MatchRegex, Value: v} }
	cases := []struct {
		name       string
		root, leaf *Match
		conflict   bool
	}{
		{"prefix under prefix", &Match{URI: prefix("/a")}, &Match{URI: prefix("/a/b")}, false},
		{"prefix outside prefix", &Match{URI: prefix("/a/b")}, &Match{URI: prefix("/a")}, true},
		{"exact under prefix", &Match{URI: prefix("/a")}, &Match{URI: exact("/a/x")}, false},
		{"prefix under exact", &Match{URI: exact("/a")}, &Match{URI: prefix("/a")}, true},
		{"same exact", &Match{URI: exact("/a")}, &Match{URI: exact("/a")}, false},
		{"regex against prefix", &Match{URI: regex("/a.*")}, &Match{URI: prefix("/a")}, true},
		{"leaf regex against root prefix", &Match{URI: prefix("/a")}, &Match{URI: regex("/a.*")}, true},
		{"unset on one side", &Match{Method: exact("GET")}, &Match{URI: prefix("/a")}, false},
		{"different ports", &Match{Port: 80}, &Match{Port: 8080}, true},
		{"root sourceNamespace, leaf none", &Match{SourceNamespace: "a"}, &Match{}, true},
		{"leaf gateways not in root's", &Match{Gateways: []string{"g1"}}, &Match{Gateways: []string{"g2"}}, true},
		{"leaf gateways within root's", &Match{Gateways: []string{"g1", "g2"}}, &Match{Gateways: []string{"g2"}}, false},
		{"sourceLabels differ", &Match{SourceLabels: map[string]string{"app": "a"}}, &Match{SourceLabels: map[string]string{"app": "b"}}, true},
		{"ignoreUriCase differs", &Match{IgnoreURICase: true}, &Match{}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.conflict, matchConflict(tc.root, tc.leaf))
			if !tc.conflict {
				m := mergeMatch(tc.root, tc.leaf)
				if tc.leaf.URI != nil {
					require.Equal(t, tc.leaf.URI, m.URI, "the delegate's condition wins")
				} else {
					require.Equal(t, tc.root.URI, m.URI, "the root's condition is kept")
				}
			}
		})
	}
	_, ok := mergeMatches([]*Match{{URI: exact("/a")}}, []*Match{{URI: prefix("/b")}, {URI: exact("/a")}})
	require.False(t, ok, "one delegate block conflicting with every root block drops the route")
	out, ok := mergeMatches([]*Match{{URI: prefix("/a")}, {URI: prefix("/b")}}, []*Match{{Method: exact("GET")}})
	require.True(t, ok)
	require.Len(t, out, 2, "one merged block per root block it does not conflict with")
}
