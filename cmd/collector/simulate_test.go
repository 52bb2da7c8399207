package main

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

const reviewsFQDN = "reviews.default.svc.cluster.local"

type simRoute struct {
	VirtualService string             `json:"virtual_service"`
	Index          int                `json:"index"`
	Name           string             `json:"name"`
	Final          map[string]float64 `json:"final"`
	Failed         float64            `json:"failed"`
}

// TestSimulateSeedJSON: the seed's scenarios come out exactly (R6, R12–R17).
func TestSimulateSeedJSON(t *testing.T) {
	cases := []struct {
		name   string
		sample string
		down   []string
		final  map[string]float64
		failed float64
	}{
		{"sample1 v3 down", seedSample1, []string{"reviews/v3"}, map[string]float64{reviewsFQDN + "/v2": 1}, 0},
		{"sample2 v3 down", seedSample2, []string{"reviews/v3"}, map[string]float64{reviewsFQDN + "/v2": 1}, 0},
		{"sample2 v3 and v2 down", seedSample2, []string{reviewsFQDN + "/v3", "reviews/v2"}, map[string]float64{reviewsFQDN + "/v1": 0.5}, 0.5},
		{"sample2 nothing down", seedSample2, nil, map[string]float64{reviewsFQDN + "/v3": 0.5, reviewsFQDN + "/v2": 0.5}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"simulate", "--format", "json", "--routing", seedDR, "--routing", tc.sample}
			for _, d := range tc.down {
				args = append(args, "--down", d)
			}
			stdout, stderr, code := runBinary(t, "", args...)
			require.Equal(t, 0, code, stderr)
			var out struct {
				Routes      []simRoute `json:"routes"`
				Multipliers []struct {
					Endpoint string   `json:"endpoint"`
					Factor   *float64 `json:"factor"`
					Down     string   `json:"down"`
				} `json:"multipliers"`
			}
			require.NoError(t, json.Unmarshal([]byte(stdout), &out))
			require.Equal(t, []simRoute{{VirtualService: "default/reviews-route", Index: 0, Name: "", Final: tc.final, Failed: tc.failed}}, out.Routes)
			require.NotEmpty(t, out.Multipliers)
		})
	}
}

func TestSimulateJSONShape(t *testing.T) {
	stdout, _, code := runBinary(t, "", "simulate", "--format", "json", "--routing", seedDR, "--routing", seedSample2, "--down", "reviews/v3")
	require.Equal(t, 0, code)
	require.JSONEq(t, `{
	  "routes":[{"virtual_service":"default/reviews-route","index":0,"name":"","final":{"reviews.default.svc.cluster.local/v2":1},"failed":0}],
	  "multipliers":[
	    {"endpoint":"reviews.default.svc.cluster.local/v1","factor":null,"normal":0,"worst":0.5,"down":"reviews.default.svc.cluster.local/v2","route":"default/reviews-route#0"},
	    {"endpoint":"reviews.default.svc.cluster.local/v2","factor":2,"normal":0.5,"worst":1,"down":"reviews.default.svc.cluster.local/v3","route":"default/reviews-route#0"},
	    {"endpoint":"reviews.default.svc.cluster.local/v3","factor":1,"normal":0.5,"worst":0.5,"down":"","route":"default/reviews-route#0"}]}`, stdout)
}

func TestSimulateText(t *testing.T) {
	stdout, stderr, code := runBinary(t, "", "simulate", "--routing", seedDR, "--routing", seedSample2, "--down", "reviews/v3", "--down", "reviews/v2")
	require.Equal(t, 0, code, stderr)
	require.Regexp(t, `default/reviews-route#0\s+reviews\.default\.svc\.cluster\.local/v1\s+50\.0%`, stdout)
	require.Regexp(t, `failed \(503\)\s+50\.0%`, stdout)
	require.Regexp(t, `reviews\.default\.svc\.cluster\.local/v2\s+50\.0%\s+100\.0%\s+2\.00×\s+reviews\.default\.svc\.cluster\.local/v3`, stdout)
}

func TestSimulateErrors(t *testing.T) {
	cases := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"unknown host", []string{"simulate", "--routing", seedDR, "--routing", seedSample2, "--down", "ratings/v1"}, 2, `"ratings/v1"`},
		{"unknown subset", []string{"simulate", "--routing", seedDR, "--routing", seedSample2, "--down", "reviews/v9"}, 2, "v9"},
		{"no config", []string{"simulate", "--down", "reviews/v3"}, 2, "--routing"},
		{"unreadable config", []string{"simulate", "--routing", "routing/testdata/structure.bad.yaml"}, 1, "structure.bad.yaml:6:10: error:"},
		{"bad format", []string{"simulate", "--format", "yaml", "--routing", seedDR}, 2, "--format"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, code := runBinary(t, "", tc.args...)
			require.Equal(t, tc.code, code, stderr)
			require.Contains(t, stderr, tc.msg)
		})
	}
}
