package routing

import (
	"testing"

	"github.com/fallbackwatch/fallbackwatch/parse"
	"github.com/stretchr/testify/require"
)

func cl(subset string) string { return "outbound|9080|" + subset + "|" + reviews }

func TestDecideSeed(t *testing.T) {
	s1 := bookinfo(t, "sample1.yaml")
	s2 := bookinfo(t, "sample2.yaml")
	req := Request{Authority: "reviews:9080", Method: "GET", Path: "/reviews/0"}
	cases := []struct {
		name   string
		cfg    *Config
		pick   float64
		down   []string
		up     string
		path   []string
		final  string
		result parse.Result
		code   int
		flags  parse.Flags
	}{
		{"R14 sample1 all healthy: v3 serves, no fallback metadata", s1, 0.7, nil, cl("v3"), nil, "", parse.ResultNone, 200, 0},
		{"R15 sample1 v3 down: v2 serves by fallback", s1, 0.7, []string{reviews + "/v3"}, cl("v2"), []string{cl("v3"), cl("v2")}, cl("v2"), parse.ResultSuccess, 200, 0},
		{"R16 sample1 v3 and v2 down: 503 UH, upstream v3", s1, 0.1, []string{reviews + "/v3", reviews + "/v2"}, cl("v3"), []string{cl("v3"), cl("v2")}, "", parse.ResultFailed, 503, parse.Flags(0).With(parse.FlagUH)},
		{"R6 sample2 pick below 0.5 takes v3", s2, 0.49, nil, cl("v3"), nil, "", parse.ResultNone, 200, 0},
		{"R6 sample2 pick at 0.5 takes v2", s2, 0.5, nil, cl("v2"), nil, "", parse.ResultNone, 200, 0},
		{"R12 sample2 v3 down, v2 picked: no fallback", s2, 0.9, []string{reviews + "/v3"}, cl("v2"), nil, "", parse.ResultNone, 200, 0},
		{"R17 sample2 v3,v2 down, v3 picked: fails, does not reach v1", s2, 0.2, []string{reviews + "/v3", reviews + "/v2"}, cl("v3"), []string{cl("v3"), cl("v2")}, "", parse.ResultFailed, 503, parse.Flags(0).With(parse.FlagUH)},
		{"R15 sample2 v3,v2 down, v2 picked: v1 serves", s2, 0.8, []string{reviews + "/v3", reviews + "/v2"}, cl("v1"), []string{cl("v2"), cl("v1")}, cl("v1"), parse.ResultSuccess, 200, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := tc.cfg.Decide(req, tc.pick, HealthSet{}.Down(tc.down...))
			require.NotNil(t, d.Route)
			require.Equal(t, "default/reviews-route#0", d.Route.Label())
			require.False(t, d.MatchUnknown)
			require.Equal(t, tc.up, d.UpstreamCluster)
			require.Equal(t, tc.path, d.FallbackPath)
			require.Equal(t, tc.final, d.FinalCluster)
			require.Equal(t, tc.result, d.Result)
			require.Equal(t, tc.code, d.ResponseCode)
			require.Equal(t, tc.flags, d.Flags)
		})
	}
}

const matchConfig = `
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: r, namespace: shop}
spec: {host: r, subsets: [{name: a}, {name: b}]}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: r, namespace: shop}
spec:
  hosts: [r]
  http:
  - name: canary
    match: [{headers: {x-canary: {exact: "1"}}}]
    route: [{destination: {host: r, subset: b}}]
  - name: api
    match:
    - uri: {prefix: /API}
      ignoreUriCase: true
      method: {exact: POST}
    - uri: {regex: "/v[0-9]+/items"}
    route: [{destination: {host: r, subset: a, port: {number: 8080}}, fallback: {target: {host: r, subset: b}}}]
  - name: exact
    match: [{uri: {exact: /health}}]
    route: [{destination: {host: r, subset: undefined}}]
  - name: undefined-with-fallback
    match: [{uri: {exact: /undef}}]
    route: [{destination: {host: r, subset: undefined}, fallback: {target: {host: r, subset: b}}}]
  - name: redirect
    match: [{uri: {prefix: /old}}]
    redirect: {uri: /new}
`

func TestDecideMatch(t *testing.T) {
	c, err := LoadBytes("match.yaml", []byte(matchConfig), LoadOptions{})
	require.NoError(t, err)
	cases := []struct {
		name    string
		req     Request
		route   string // "" for no route
		unknown bool
		up      string
		code    int
		flags   parse.Flags
	}{
		{"R9 header unknown in replay: first possible route, flagged", Request{Authority: "r.shop:80", Method: "POST", Path: "/api/x"}, "shop/r#canary", true, "outbound|80|b|r.shop.svc.cluster.local", 200, 0},
		{"R9 header known and absent: next rule", Request{Authority: "r.shop", Method: "POST", Path: "/api/x", Headers: map[string]string{}}, "shop/r#api", false, "outbound|8080|a|r.shop.svc.cluster.local", 200, 0},
		{"R9 header known and present", Request{Authority: "r.shop.svc.cluster.local", Path: "/", Headers: map[string]string{"X-Canary": "1"}}, "shop/r#canary", false, "outbound|80|b|r.shop.svc.cluster.local", 200, 0},
		{"R8 blocks ANDed: prefix matches, method does not", Request{Authority: "r.shop", Method: "GET", Path: "/api/x", Headers: map[string]string{}}, "", false, "", 404, parse.Flags(0).With(parse.FlagNR)},
		{"R9 regex matches the whole path without query", Request{Authority: "r.shop", Method: "GET", Path: "/v2/items?q=1", Headers: map[string]string{}}, "shop/r#api", false, "outbound|8080|a|r.shop.svc.cluster.local", 200, 0},
		{"R9 regex is anchored", Request{Authority: "r.shop", Method: "GET", Path: "/v2/items/3", Headers: map[string]string{}}, "", false, "", 404, parse.Flags(0).With(parse.FlagNR)},
		{"R5 undefined subset without fallback: 503 NC", Request{Authority: "r.shop", Path: "/health", Headers: map[string]string{}}, "shop/r#exact", false, "outbound|80|undefined|r.shop.svc.cluster.local", 503, parse.Flags(0).With(parse.FlagNC)},
		{"R13 undefined subset with fallback: falls back", Request{Authority: "r.shop", Path: "/undef", Headers: map[string]string{}}, "shop/r#undefined-with-fallback", false, "outbound|80|b|r.shop.svc.cluster.local", 200, 0},
		{"R10 no route matches: 404 NR", Request{Authority: "r.shop", Path: "/nothing", Headers: map[string]string{}}, "", false, "", 404, parse.Flags(0).With(parse.FlagNR)},
		{"redirect: no destination", Request{Authority: "r.shop", Path: "/old/x", Headers: map[string]string{}}, "shop/r#redirect", false, "", 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := c.Decide(tc.req, 0, nil)
			if tc.route == "" {
				require.Nil(t, d.Route)
			} else {
				require.NotNil(t, d.Route)
				require.Equal(t, tc.route, d.Route.Label())
			}
			require.Equal(t, tc.unknown, d.MatchUnknown)
			require.Equal(t, tc.up, d.UpstreamCluster)
			require.Equal(t, tc.code, d.ResponseCode)
			require.Equal(t, tc.flags, d.Flags)
		})
	}
	require.Equal(t, Decision{}, c.Decide(Request{Authority: "other:80"}, 0, nil), "R10: no VirtualService")
}

func TestHealthSet(t *testing.T) {
	h := HealthSet{}.Down(reviews+"/v3", "outbound|9080||ratings.default.svc.cluster.local")
	require.False(t, h.Healthy(cl("v3")))
	require.False(t, h.Healthy("outbound|1234|v3|"+reviews), "host/subset keys match any port")
	require.True(t, h.Healthy(cl("v2")))
	require.False(t, h.Healthy("outbound|9080||ratings.default.svc.cluster.local"))
	require.True(t, AllHealthy.Healthy(cl("v3")))
}
