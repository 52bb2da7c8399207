package routing

import (
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// realworldDir holds public Istio configurations; its README names each file's source.
const realworldDir = "../testdata/realworld/configs"

// istioExpects is what Istio's own analyzer tests expect of their testdata
// (pkg/config/analysis/analyzers/analyzers_test.go at the commit named in the README): the
// VirtualServices a message is reported for. exact: fallbackwatch reports the same set with its
// code; otherwise it reports a subset (fallbackwatch does not model everything Istio checks,
// e.g. mirror destinations or overlapping prefixes) and must not report more.
var istioExpects = map[string]struct {
	codes     []string
	exact     bool
	resources []string
}{
	"istio-analyzers-virtualservice_conflictingmeshgatewayhosts.yaml": {
		[]string{CodeDuplicateHost}, true,
		[]string{"team3/ratings", "team4/ratings", "foo/ratings", "bar/ratings", "foo/productpage", "foo/bogus-productpage", "team2/ratings"},
	},
	"istio-analyzers-virtualservice_conflictingmeshgatewayhosts_with_exportto.yaml": {
		[]string{CodeDuplicateHost}, true,
		[]string{"foo/productpage", "bar/productpage", "foo/productpage-c", "bar/productpage-c", "foo/productpage-d", "bar/productpage-d"},
	},
	"istio-analyzers-virtualservice_destinationrules.yaml": {
		[]string{CodeSubsetUndefined}, false,
		[]string{"default/reviews-bogussubset", "default/reviews-mirror-bogussubset"},
	},
	"istio-analyzers-virtualservice_dupmatches.yaml": {
		[]string{CodeDuplicateMatch, CodeUnreachableRoute}, false,
		[]string{"default/duplicate-match", "foo/sample-foo-cluster01", "default/almost-duplicate-match"},
	},
	"istio-analyzers-virtualservice_overlappingmatches.yaml": {
		[]string{CodeDuplicateMatch, CodeUnreachableRoute}, false,
		[]string{"default/non-method-get", "default/overlapping-in-single-match", "default/overlapping-in-two-matches", "default/overlapping-mathes-with-different-methods"},
	},
	// Istio's validation accepts the egress-gateway pattern without a warning: the two match
	// blocks differ in gateways.
	"istio-tests-rule-route-via-egressgateway.yaml": {[]string{CodeDuplicateMatch, CodeUnreachableRoute}, true, nil},
	// The delegate example of the VirtualService reference resolves without a problem.
	"istio-api-vs-delegate-L512.yaml": {
		[]string{CodeDelegateMissing, CodeDelegateNotExported, CodeDelegateNested, CodeDelegateConflict, CodeDelegateGateways}, true, nil,
	},
}

// TestRealWorldConfigs: every committed public configuration loads (lint exits 0 or 3, never
// 1), lints, simulates and decides; where Istio's tests say what Istio reports, fallbackwatch
// reports that and nothing Istio does not.
func TestRealWorldConfigs(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(realworldDir, "*.yaml"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(files), 30)
	seen := map[string]bool{}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			c, err := Load(f)
			require.NoError(t, err, "lint would exit 1")
			findings := c.Lint()
			_, err = c.Simulate(nil)
			require.NoError(t, err)
			for _, vs := range c.VirtualServices {
				for _, h := range vs.Hosts {
					c.Decide(Request{Authority: h, Method: "GET", Path: "/"}, 0.5, AllHealthy)
				}
			}
			exp, ok := istioExpects[name]
			if !ok {
				return
			}
			seen[name] = true
			codes := map[string]bool{}
			for _, code := range exp.codes {
				codes[code] = true
			}
			got := map[string]bool{}
			for _, x := range findings {
				if codes[x.Code] {
					got[strings.TrimPrefix(x.Resource, "virtualservice ")] = true
				}
			}
			want := map[string]bool{}
			for _, r := range exp.resources {
				want[r] = true
			}
			if exp.exact {
				require.Equal(t, slices.Sorted(maps.Keys(want)), slices.Sorted(maps.Keys(got)), "%v", findings)
				return
			}
			for r := range got {
				require.True(t, want[r], "%s is reported, Istio does not report it: %v", r, findings)
			}
			if len(exp.resources) > 0 && name != "istio-analyzers-virtualservice_overlappingmatches.yaml" {
				require.NotEmpty(t, got, "%v", findings)
			}
		})
	}
	for name := range istioExpects {
		require.True(t, seen[name], "expectation for a file not in the corpus: %s", name)
	}
}

// TestRealWorldDelegateExample: the delegate example of Istio's VirtualService reference routes
// /productpage and /reviews of bookinfo.com through the delegates' routes (R8).
func TestRealWorldDelegateExample(t *testing.T) {
	c, err := Load(filepath.Join(realworldDir, "istio-api-vs-delegate-L512.yaml"))
	require.NoError(t, err)
	for path, want := range map[string][2]string{
		"/productpage/v1/x": {"nsA/productpage#0", "productpage-v1.nsA.svc.cluster.local"},
		"/productpage":      {"nsA/productpage#1", "productpage.nsA.svc.cluster.local"},
		"/reviews/1":        {"nsB/reviews#0", "reviews.nsB.svc.cluster.local"},
	} {
		d := c.Decide(Request{Authority: "bookinfo.com", Method: "GET", Path: path}, 0, nil)
		require.NotNil(t, d.Route, path)
		require.Equal(t, want[0], d.Route.Label(), path)
		require.Equal(t, want[1], d.Destination.Host, path)
	}
	d := c.Decide(Request{Authority: "bookinfo.com", Method: "GET", Path: "/other"}, 0, nil)
	require.Nil(t, d.Route, "R10: outside both delegations nothing matches")
	require.Equal(t, 404, d.ResponseCode)
}

// TestRealWorldCorpusAsOneFolder: the whole corpus as one --routing folder loads; objects defined
// in several files (the Bookinfo samples each redefine default/reviews) are one object each,
// with a note naming both files.
func TestRealWorldCorpusAsOneFolder(t *testing.T) {
	c, err := Load(realworldDir)
	require.NoError(t, err)
	ids := map[string]int{}
	for _, vs := range c.VirtualServices {
		ids[vs.ID()]++
	}
	for id, n := range ids {
		require.Equal(t, 1, n, "%s loaded %d times", id, n)
	}
	require.NotEmpty(t, c.Notes)
	var reviews []string
	for _, n := range c.Notes {
		if strings.Contains(n.Message, "virtualservice default/reviews is defined again") {
			reviews = append(reviews, n.String())
		}
	}
	require.NotEmpty(t, reviews, "%v", c.Notes)
	c.Lint()
}
