package routing

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSimulateSeed: the seed's scenarios, exactly (R6, R12–R17).
func TestSimulateSeed(t *testing.T) {
	cases := []struct {
		name   string
		sample string
		down   []string
		final  map[string]float64
		failed float64
	}{
		{"sample1 healthy", "sample1.yaml", nil, map[string]float64{reviews + "/v3": 1}, 0},
		{"R15 sample1 v3 down", "sample1.yaml", []string{"reviews/v3"}, map[string]float64{reviews + "/v2": 1}, 0},
		{"R16 sample1 v3,v2 down", "sample1.yaml", []string{"reviews/v3", "reviews/v2"}, map[string]float64{}, 1},
		{"R6 sample2 healthy", "sample2.yaml", nil, map[string]float64{reviews + "/v3": 0.5, reviews + "/v2": 0.5}, 0},
		{"R15 sample2 v3 down", "sample2.yaml", []string{reviews + "/v3"}, map[string]float64{reviews + "/v2": 1}, 0},
		{"R17 sample2 v3,v2 down", "sample2.yaml", []string{"reviews/v3", "reviews.default/v2"}, map[string]float64{reviews + "/v1": 0.5}, 0.5},
		{"whole service down", "sample2.yaml", []string{"reviews"}, map[string]float64{}, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sim, err := bookinfo(t, tc.sample).Simulate(tc.down)
			require.NoError(t, err)
			require.Len(t, sim.Routes, 1)
			r := sim.Routes[0]
			require.Equal(t, "default/reviews-route", r.VirtualService)
			require.Equal(t, 0, r.Index)
			require.Equal(t, tc.final, r.Final)
			require.Equal(t, tc.failed, r.Failed)
			sum := r.Failed
			for _, s := range r.Final {
				sum += s
			}
			require.InDelta(t, 1, sum, 1e-12)
		})
	}
}

func TestSimulateDownErrors(t *testing.T) {
	c := bookinfo(t, "sample2.yaml")
	for _, d := range []string{"ratings/v1", "reviews/v9", "reviews.other/v1"} {
		_, err := c.Simulate([]string{d})
		require.ErrorContains(t, err, d)
	}
}

func TestSimulateUndefinedSubsetIsDown(t *testing.T) {
	c, err := Load("testdata/semantics.bad.yaml")
	require.NoError(t, err)
	sim, err := c.Simulate(nil)
	require.NoError(t, err)
	byName := map[string]RouteShares{}
	for _, r := range sim.Routes {
		byName[r.Name] = r
	}
	require.NotContains(t, byName, "zero", "R6: a route whose weights sum to 0 has no split")
	require.Equal(t, 1.0, byName["undefined"].Failed, "R5, R13: v4 and v5 do not exist")
	require.Equal(t, map[string]float64{reviews + "/v2": 1}, byName["negative"].Final, "R6: negative weight never chosen")
}

func TestLoadMultipliers(t *testing.T) {
	ms := bookinfo(t, "sample2.yaml").LoadMultipliers()
	byKey := map[string]Multiplier{}
	for _, m := range ms {
		byKey[m.Endpoint] = m
	}
	v2 := byKey[reviews+"/v2"]
	require.Equal(t, 2.0, v2.Factor, "seed: v2 carries 100%% when v3 is down")
	require.Equal(t, reviews+"/v3", v2.Down)
	require.Equal(t, 0.5, v2.Normal)
	require.Equal(t, 1.0, v2.Worst)
	require.True(t, math.IsInf(byKey[reviews+"/v1"].Factor, 1), "v1 serves nothing normally")
	require.Equal(t, 0.5, byKey[reviews+"/v1"].Worst)
	require.Equal(t, 1.0, byKey[reviews+"/v3"].Factor)

	s1 := bookinfo(t, "sample1.yaml").LoadMultipliers()
	require.Len(t, s1, 2)
	require.Equal(t, reviews+"/v2", s1[0].Endpoint)
	require.Equal(t, 1.0, s1[0].Worst)
}

func TestEdges(t *testing.T) {
	es := bookinfo(t, "sample2.yaml").Edges()
	require.Equal(t, []Edge{
		{Route: "default/reviews-route#0", VirtualService: "default/reviews-route",
			From: EdgeEnd{Service: reviews, Subset: "v3", Cluster: "outbound||v3|" + reviews},
			To:   EdgeEnd{Service: reviews, Subset: "v2", Cluster: "outbound||v2|" + reviews}, Weight: 0.5},
		{Route: "default/reviews-route#0", VirtualService: "default/reviews-route",
			From: EdgeEnd{Service: reviews, Subset: "v2", Cluster: "outbound||v2|" + reviews},
			To:   EdgeEnd{Service: reviews, Subset: "v1", Cluster: "outbound||v1|" + reviews}, Weight: 0.5},
	}, es)
	c, err := LoadWith(LoadOptions{Ports: map[string]int{reviews: 9080}}, "../testdata/bookinfo/destinationrule.yaml", "../testdata/bookinfo/sample1.yaml")
	require.NoError(t, err)
	require.Equal(t, cl("v3"), c.Edges()[0].From.Cluster, "R2: port from LoadOptions.Ports")
}

// TestGoodnessOfFit: C7.
func TestGoodnessOfFit(t *testing.T) {
	cfg := map[string]float64{"v3": 50, "v2": 50}
	fit := GoodnessOfFit(map[string]int64{"v3": 5000, "v2": 5000}, cfg)
	require.Equal(t, 0.0, fit.ChiSquare)
	require.Equal(t, 1, fit.DF)
	require.InDelta(t, 1, fit.PValue, 1e-12)
	require.Equal(t, 0.5, fit.Expected["v2"])

	// 5100/4900: chi2 = 4, p = 0.0455 for 1 df.
	fit = GoodnessOfFit(map[string]int64{"v3": 5100, "v2": 4900}, cfg)
	require.InDelta(t, 4.0, fit.ChiSquare, 1e-9)
	require.InDelta(t, 0.04550026, fit.PValue, 1e-6)
	require.Equal(t, 0.51, fit.Observed["v3"])

	// 3 categories, chi2 = 10 with 2 df: p = exp(-5).
	fit = GoodnessOfFit(map[string]int64{"a": 1100, "b": 1000, "c": 900}, map[string]float64{"a": 1, "b": 1, "c": 1})
	require.InDelta(t, 20.0, fit.ChiSquare, 1e-9)
	require.InDelta(t, math.Exp(-10), fit.PValue, 1e-12)

	fit = GoodnessOfFit(map[string]int64{"v3": 10, "v1": 1}, cfg)
	require.Equal(t, 0.0, fit.PValue, "v1 has no weight")
	require.Equal(t, 1.0, GoodnessOfFit(nil, cfg).PValue)
}
