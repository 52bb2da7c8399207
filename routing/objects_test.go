package routing

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestLoadObjectsNamesObjects: objects go through the file loader, and positions, findings and
// errors name the object where a file name would stand.
func TestLoadObjectsNamesObjects(t *testing.T) {
	read := func(name string) []byte {
		b, err := os.ReadFile("../testdata/bookinfo/" + name)
		require.NoError(t, err)
		return b
	}
	cfg, err := LoadObjects([]Object{
		{Name: "default/reviews@rv7", Data: read("destinationrule.yaml")},
		{Name: "default/reviews-route@rv12345", Data: read("sample2.yaml")},
	}, LoadOptions{})
	require.NoError(t, err)
	require.Len(t, cfg.VirtualServices, 1)
	require.Len(t, cfg.DestinationRules, 1)
	require.Equal(t, "default/reviews-route@rv12345", cfg.VirtualServices[0].File)
	require.Equal(t, "default/reviews@rv7", cfg.DestinationRules[0].File)

	// R3: a fallback needs a target.
	_, err = LoadObjects([]Object{{Name: "default/reviews-route@rv9", Data: []byte(`{"apiVersion": "networking.istio.io/v1",
"kind": "VirtualService", "metadata": {"name": "reviews-route", "namespace": "default"},
"spec": {"hosts": ["reviews"], "http": [{"route": [{"destination": {"host": "reviews", "subset": "v3"}, "fallback": {}}]}]}}`)}},
		LoadOptions{})
	var le *LoadErrors
	require.ErrorAs(t, err, &le)
	require.Len(t, le.Errs, 1)
	require.Equal(t, "default/reviews-route@rv9", le.Errs[0].File)
	require.Equal(t, "virtualservice default/reviews-route", le.Errs[0].Resource)
	require.Equal(t, "spec.http[0].route[0].fallback", le.Errs[0].Path)
	require.Contains(t, le.Errs[0].Msg, "(R3)")

	_, err = LoadObjects([]Object{{Data: read("sample1.yaml")}}, LoadOptions{})
	require.ErrorContains(t, err, "without a name")
}
