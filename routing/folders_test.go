package routing

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestOneObjectPerName: the same kind/namespace/name twice is one object, the later definition
// in load order winning as `kubectl apply -f DIR` applies files in lexical order; a note names
// both places.
func TestOneObjectPerName(t *testing.T) {
	c, err := Load("testdata/dup")
	require.NoError(t, err)
	require.Len(t, c.VirtualServices, 1, "a-old.yaml, b-new.yaml and b-new.yaml's second document are one object")
	require.Len(t, c.DestinationRules, 1)
	d := c.Decide(Request{Authority: "reviews", Path: "/"}, 0, nil)
	require.Equal(t, "outbound|80|v2|"+reviews, d.UpstreamCluster, "the last definition routes")
	require.Len(t, c.Notes, 2, "%v", c.Notes)
	require.Equal(t, filepath.Join("testdata", "dup", "b-new.yaml"), c.Notes[0].File)
	require.Equal(t, 1, c.Notes[0].Line)
	require.Contains(t, c.Notes[0].String(), "virtualservice default/reviews is defined again; this definition replaces the one in "+filepath.Join("testdata", "dup", "a-old.yaml")+" (line 1)")
	require.Equal(t, 9, c.Notes[1].Line)
	require.Contains(t, c.Notes[1].Message, "earlier in the same file")
	for _, f := range c.Lint() {
		require.NotEqual(t, CodeDuplicateHost, f.Code, "an object does not conflict with itself: %s", f)
	}
}

// TestOneObjectBookinfo: this repository's own Bookinfo folder holds two versions of
// default/reviews-route; the later file (sample2.yaml) is the one in force.
func TestOneObjectBookinfo(t *testing.T) {
	c, err := Load("../testdata/bookinfo")
	require.NoError(t, err)
	require.Len(t, c.VirtualServices, 1)
	require.Equal(t, filepath.Join("../testdata/bookinfo", "sample2.yaml"), c.VirtualServices[0].File)
	require.Len(t, c.Notes, 1)
	for _, f := range c.Lint() {
		require.NotEqual(t, CodeDuplicateHost, f.Code, "%s", f)
	}
}

// TestFolderAsPeopleKeepIt: files that are not Kubernetes objects are skipped with a note;
// Kubernetes objects of other kinds are ignored.
func TestFolderAsPeopleKeepIt(t *testing.T) {
	c, err := Load("testdata/folder")
	require.NoError(t, err)
	require.Len(t, c.VirtualServices, 2)
	require.Len(t, c.DestinationRules, 1)
	skipped := strings.Join(c.Ignored, "\n")
	for _, f := range []string{"Chart.yaml", "values.yaml", "package.json", "openapi.json"} {
		require.Contains(t, skipped, filepath.Join("testdata", "folder", f)+":1: not a Kubernetes object", "%s", skipped)
	}
	require.Contains(t, skipped, "Kustomization")
}

// TestNothingToCheck: a path set without any VirtualService or DestinationRule is an error.
func TestNothingToCheck(t *testing.T) {
	_, err := Load("testdata/folder-empty")
	var le *LoadErrors
	require.True(t, errors.As(err, &le), "%v", err)
	require.Len(t, le.Errs, 1)
	require.Equal(t, "testdata/folder-empty: no VirtualService or DestinationRule found (3 other document(s) skipped)", le.Errs[0].Error())
	_, err = LoadBytes("empty.yaml", nil, LoadOptions{})
	require.ErrorContains(t, err, "empty.yaml:1: no VirtualService or DestinationRule found")
}

// TestWhatKubectlAccepts: anchors, merge keys (<<), header presence and withoutHeaders (R9).
func TestWhatKubectlAccepts(t *testing.T) {
	c, err := Load("testdata/kubectl.good.yaml")
	require.NoError(t, err)
	vs := c.VirtualServiceFor("reviews.shop")
	require.NotNil(t, vs)
	require.Equal(t, Endpoint{Host: "reviews.shop.svc.cluster.local", Subset: "v3", Port: 9080}, vs.HTTP[1].Destinations[0].Endpoint,
		"<<: *v1 with subset overridden")
	require.Equal(t, MatchPresent, vs.HTTP[0].Matches[0].Headers["end-user"].Kind)
	cl := func(s string) string { return "outbound|9080|" + s + "|reviews.shop.svc.cluster.local" }
	cases := []struct {
		name    string
		req     Request
		route   string
		up      string
		unknown bool
	}{
		{"header present, any value", Request{Path: "/", Headers: map[string]string{"End-User": ""}}, "shop/reviews#signed-in", cl("v2"), false},
		{"header absent", Request{Path: "/api/x", Headers: map[string]string{}}, "shop/reviews#not-beta", cl("v3"), false},
		{"withoutHeaders: header matching excludes", Request{Path: "/api/x", Headers: map[string]string{"x-beta": "1"}}, "shop/reviews#default", cl("v1"), false},
		{"withoutHeaders: other value does not exclude", Request{Path: "/api/x", Headers: map[string]string{"x-beta": "2"}}, "shop/reviews#not-beta", cl("v3"), false},
		{"headers unknown (replay): unknown", Request{Path: "/api/x"}, "shop/reviews#signed-in", cl("v2"), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.Authority = "reviews.shop:9080"
			d := c.Decide(tc.req, 0, nil)
			require.NotNil(t, d.Route)
			require.Equal(t, tc.route, d.Route.Label())
			require.Equal(t, tc.up, d.UpstreamCluster)
			require.Equal(t, tc.unknown, d.MatchUnknown)
		})
	}
}

// TestMergeKeyErrors: a merge key must name a mapping; duplicate keys stay errors.
func TestMergeKeyErrors(t *testing.T) {
	_, err := LoadBytes("m.yaml", []byte(`apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: r}
spec:
  <<: [1]
  host: r
  host: s
`), LoadOptions{})
	require.ErrorContains(t, err, "merge key << wants a mapping")
	require.ErrorContains(t, err, "spec.host: duplicate field")
}

// TestMatchesComparedByValue: match blocks differing only in conditions a log cannot show are
// not duplicates (IST0131 compares the whole match); blocks equal in every field are.
func TestMatchesComparedByValue(t *testing.T) {
	base := `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ext}
spec:
  hosts: [ext.example.com]
  gateways: [mesh, egress]
  http:
  - match: [{%s}]
    route: [{destination: {host: egress}}]
  - match: [{%s}]
    route: [{destination: {host: ext.example.com}}]
`
	for _, tc := range []struct {
		a, b string
		dup  bool
	}{
		{"gateways: [mesh], port: 80", "gateways: [egress], port: 80", false},
		{"port: 80", "port: 443", false},
		{"sourceLabels: {app: a}", "sourceLabels: {app: b}", false},
		{"sourceNamespace: a", "sourceNamespace: b", false},
		{"queryParams: {v: {exact: a}}", "queryParams: {v: {exact: b}}", false},
		{"withoutHeaders: {x: {exact: a}}", "withoutHeaders: {x: {exact: b}}", false},
		{"headers: {x: {}}", "headers: {x: {exact: b}}", false},
		{"gateways: [mesh], port: 80", "port: 80, gateways: [mesh]", true},
		{"name: a, uri: {prefix: /x}", "name: b, uri: {prefix: /x}", true},
	} {
		t.Run(tc.a+" vs "+tc.b, func(t *testing.T) {
			c, err := LoadBytes("m.yaml", []byte(fmt.Sprintf(base, tc.a, tc.b)), LoadOptions{})
			require.NoError(t, err)
			dup := false
			for _, f := range c.Lint() {
				dup = dup || f.Code == CodeDuplicateMatch
			}
			require.Equal(t, tc.dup, dup)
		})
	}
}

// TestHostMatches: Istio's host.Name.Matches.
func TestHostMatches(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"*.d", "*.productpage.d", true},
		{"*.productpage.d", "*.d", true},
		{"*.productpage.c", "*.productpage.c", true},
		{"*.a", "*.b", false},
		{"*.example.com", "www.example.com", true},
		{"www.example.com", "*.example.com", true},
		{"a.example.com", "b.example.com", false},
	} {
		require.Equal(t, tc.want, hostMatches(tc.a, tc.b), "%s %s", tc.a, tc.b)
	}
}

// TestUnknownAuthorityCacheBounded: records for hosts without a VirtualService are cached per
// Config, not per Checker, and the cache is bounded: a million distinct client-chosen
// authorities across several checkers keep it at its bound.
func TestUnknownAuthorityCacheBounded(t *testing.T) {
	c := bookinfo(t, "sample1.yaml")
	const checkers, perChecker = 4, 250_000
	var wg sync.WaitGroup
	for w := 0; w < checkers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			ch := NewChecker(c, CheckOptions{})
			rec := parseLine(t, record(map[string]any{"upstream_cluster": "PassthroughCluster"}))
			for i := 0; i < perChecker; i++ {
				rec.Authority = []byte(fmt.Sprintf("h%d-%d.example", w, i))
				v := ch.Check(rec, time.Time{})
				if v.Kind != Unknown {
					t.Errorf("authority %s: %v", rec.Authority, v)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	require.Equal(t, maxCachedMessages, c.unknownMsgs.len(), "1e6 distinct authorities, one bounded cache")
	long := parseLine(t, record(map[string]any{"upstream_cluster": "PassthroughCluster", "authority": strings.Repeat("a", 10000)}))
	v := NewChecker(c, CheckOptions{}).Check(long, time.Time{})
	require.Less(t, len(v.Message), 400, "record input in messages is length-capped")
}

// TestMergeKeyBomb: merge keys expand aliases; eleven levels of ten-fold merges (10^11 keys if
// expanded naively) stop at the document's node budget with a bounded number of located errors.
func TestMergeKeyBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata:\n  name: r\n  annotations:\n    x0: &a0 {k: 1}\n")
	for i := 1; i <= 11; i++ {
		fmt.Fprintf(&b, "    x%d: &a%d {<<: [%s]}\n", i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*a%d, ", i-1), 10), ", "))
	}
	b.WriteString("spec: {<<: *a11, host: r}\n")
	_, err := LoadBytes("bomb.yaml", []byte(b.String()), LoadOptions{})
	var le *LoadErrors
	require.True(t, errors.As(err, &le), "%v", err)
	require.Len(t, le.Errs, 2, "%v", err)
	require.Equal(t, `bomb.yaml:6:14: destinationrule default/r spec.k: unknown field "k"`, le.Errs[0].Error(), "the merged key, once")
	require.Contains(t, le.Errs[1].Error(), "document too large or too deeply aliased")
}

// TestHostRepeated: Istio's validation rejects a VirtualService naming one host twice as
// written, a wildcard covering another host included.
func TestHostRepeated(t *testing.T) {
	c, err := LoadBytes("h.yaml", []byte(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: h, namespace: shop}
spec:
  hosts: [reviews, reviews.shop.svc.cluster.local, "*.example.com", www.example.com, other.org, reviews]
  http:
  - route: [{destination: {host: reviews}}]
`), LoadOptions{})
	require.NoError(t, err)
	var msgs []string
	for _, f := range c.Lint() {
		if f.Code == CodeHostRepeated {
			require.Equal(t, SeverityError, f.Severity)
			msgs = append(msgs, f.Message)
		}
	}
	require.Equal(t, []string{
		"duplicate hosts in virtual service: reviews & reviews (Istio rejects it)",
		"duplicate hosts in virtual service: *.example.com & www.example.com (Istio rejects it)",
	}, msgs)
}

// TestLintManyHosts: thousands of VirtualServices claiming one host give one finding each, and
// each names at most ten of them; among thousands of wildcard hosts in one VirtualService every
// overlap is found.
func TestLintManyHosts(t *testing.T) {
	var b strings.Builder
	const n = 3000
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: vs%d}\nspec:\n  hosts: [shared.example.com]\n  http: [{route: [{destination: {host: a}}]}]\n", i)
	}
	b.WriteString("---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: wild}\nspec:\n  hosts: [")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "'*.h%d.example.org', ", i)
	}
	b.WriteString("'*.example.org']\n  http: [{route: [{destination: {host: a}}]}]\n")
	c, err := LoadBytes("many.yaml", []byte(b.String()), LoadOptions{})
	require.NoError(t, err)
	dup, repeated := 0, 0
	for _, f := range c.Lint() {
		switch f.Code {
		case CodeDuplicateHost:
			dup++
			require.Less(t, len(f.Message), 400, f.Message)
			require.Contains(t, f.Message, fmt.Sprintf("and %d more", n-maxNamesListed))
		case CodeHostRepeated:
			repeated++
		}
	}
	require.Equal(t, n, dup)
	require.Equal(t, n, repeated, "each *.hN.example.org overlaps *.example.org")
}

// TestHostIndexAgreesWithMatches: the index finds exactly the hosts host.Name.Matches pairs,
// checked against comparing every pair, over random valid hosts.
func TestHostIndexAgreesWithMatches(t *testing.T) {
	labels := []string{"a", "b", "ab", "example", "com"}
	rnd := uint64(1)
	next := func(n int) int {
		rnd = rnd*6364136223846793005 + 1442695040888963407
		return int((rnd >> 33) % uint64(n))
	}
	for round := 0; round < 200; round++ {
		hosts := make([]string, 1+next(12))
		for i := range hosts {
			parts := make([]string, 1+next(3))
			for k := range parts {
				parts[k] = labels[next(len(labels))]
			}
			h := strings.Join(parts, ".")
			switch next(4) {
			case 0:
				h = "*." + h
			case 1:
				if next(4) == 0 {
					h = "*"
				}
			}
			hosts[i] = h
		}
		x := newHostIndex(hosts)
		for _, h := range append(hosts, "*", "*.com", "x.a.com") {
			got := map[int]bool{}
			x.each(h, func(i int) { got[i] = true })
			for i, o := range hosts {
				require.Equal(t, hostMatches(h, o), got[i], "%q against %q in %q", h, o, hosts)
			}
		}
	}
}
