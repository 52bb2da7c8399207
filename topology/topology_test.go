package topology

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func bookinfo() *Topology {
	svc := "reviews.default.svc.cluster.local"
	return &Topology{Subsets: []Subset{{svc, "v1"}, {svc, "v2"}, {svc, "v3"}}}
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "capacity.yaml")
	require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
	return p
}

func TestLoadCapacity(t *testing.T) {
	p := writeFile(t, "capacity:\n  reviews/v2: 150\n  reviews/v1: 80\n  reviews.default.svc.cluster.local/v3: 40.5\n")
	got, err := LoadCapacity(p, bookinfo(), "default", "")
	require.NoError(t, err)
	svc := "reviews.default.svc.cluster.local"
	require.Equal(t, map[Subset]float64{{svc, "v1"}: 80, {svc, "v2"}: 150, {svc, "v3"}: 40.5}, got)
}

func TestLoadCapacityErrors(t *testing.T) {
	for name, tc := range map[string]struct{ body, want string }{
		"unknown subset":  {"capacity:\n  reviews/v9: 10\n", "subset reviews.default.svc.cluster.local/v9 is not defined"},
		"not host/subset": {"capacity:\n  reviews: 10\n", `key "reviews": want host/subset`},
		"negative":        {"capacity:\n  reviews/v1: -3\n", "must be a positive number"},
		"unknown field":   {"capacty:\n  reviews/v1: 3\n", "field capacty not found"},
		"not a number":    {"capacity:\n  reviews/v1: lots\n", "cannot unmarshal"},
		"empty":           {"", "EOF"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := LoadCapacity(writeFile(t, tc.body), bookinfo(), "default", "")
			require.ErrorContains(t, err, tc.want)
		})
	}
	_, err := LoadCapacity(filepath.Join(t.TempDir(), "missing.yaml"), bookinfo(), "default", "")
	require.ErrorContains(t, err, "no such file")
}

func TestFQDN(t *testing.T) {
	require.Equal(t, "reviews.default.svc.cluster.local", FQDN("reviews", "default", ""))
	require.Equal(t, "reviews.shop.svc.example.org", FQDN("reviews", "shop", "example.org"))
	require.Equal(t, "reviews.shop", FQDN("reviews.shop", "default", ""), "R1: a host with a dot is used verbatim")
	require.Equal(t, "*.example.com", FQDN("*.example.com", "default", ""))
	require.Equal(t, "api.example.com.", FQDN("api.example.com.", "default", ""))
	require.Equal(t, "reviews.default.svc.cluster.local", FQDN("reviews.default.svc.cluster.local", "x", ""))
}
