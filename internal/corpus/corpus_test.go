package corpus

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDeterministic(t *testing.T) {
	for _, o := range []Options{{}, {Format: CRI, CRISplit: 300}, {Format: Docker}, {Scenario: Bookinfo}} {
		var a, b bytes.Buffer
		require.NoError(t, Generate(&a, 500, o))
		require.NoError(t, Generate(&b, 500, o))
		require.Equal(t, a.Bytes(), b.Bytes())
		o.Seed = 99
		var c bytes.Buffer
		require.NoError(t, Generate(&c, 500, o))
		require.NotEqual(t, a.Bytes(), c.Bytes(), "the seed changes the output")
	}
}

// TestMixedShape holds the Mixed corpus to the shape the benchmarks are specified with.
func TestMixedShape(t *testing.T) {
	const n = 20000
	lines := Lines(n, Options{Seed: 1})
	require.Len(t, lines, n)
	var size, success, failed, escaped, typed int
	for _, l := range lines {
		size += len(l) + 1
		var m map[string]any
		require.NoError(t, json.Unmarshal(l, &m), "%s", l)
		switch m["fallback_result"] {
		case "fallback successful":
			success++
		case "fallback cluster is unhealthy":
			failed++
			require.EqualValues(t, "503", toString(m["response_code"]))
			require.Equal(t, "UH", m["response_flags"])
		}
		if bytes.IndexByte(l, '\\') >= 0 {
			escaped++
		}
		if _, ok := m["response_code"].(float64); ok {
			typed++
		}
	}
	avg := size / n
	require.InDelta(t, 1050, avg, 100, "average line length")
	require.InDelta(t, 0.15, float64(success)/n, 0.01)
	require.InDelta(t, 0.05, float64(failed)/n, 0.01)
	require.InDelta(t, 0.01, float64(escaped)/n, 0.005)
	require.InDelta(t, 0.33, float64(typed)/n, 0.05)
}

func toString(v any) string {
	b, _ := json.Marshal(v)
	return strings.Trim(string(b), `"`)
}

func TestBookinfoHoldsTheGuideRecords(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, Generate(&buf, 200, Options{Scenario: Bookinfo}))
	require.Contains(t, buf.String(), "\n"+SeedSuccess+"\n")
	require.Contains(t, buf.String(), "\n"+SeedFailed+"\n")
	require.NotContains(t, buf.String(), "|v1|reviews.default.svc.cluster.local:outbound", "v1 never falls back")
}
