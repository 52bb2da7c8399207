package topology_test

import (
	"fmt"

	"github.com/fallbackwatch/fallbackwatch/topology"
)

// A topology for the source document's sample 2 (reviews v3 falls back to v2, v2 to v1) and the
// capacities of a capacity file.
func ExampleLoadCapacity() {
	reviews := topology.FQDN("reviews", "default", "")
	v1 := topology.Subset{Service: reviews, Subset: "v1"}
	v2 := topology.Subset{Service: reviews, Subset: "v2"}
	v3 := topology.Subset{Service: reviews, Subset: "v3"}
	t := &topology.Topology{
		Subsets: []topology.Subset{v3, v2, v1},
		Edges: []topology.Edge{
			{Route: "default/reviews-route#0", From: v3, To: v2},
			{Route: "default/reviews-route#0", From: v2, To: v1},
		},
	}
	t.Sort()
	capacity, err := topology.LoadCapacity("testdata/capacity.yaml", t, "default", "")
	if err != nil {
		fmt.Println(err)
		return
	}
	t.Capacity = capacity
	for _, s := range t.Subsets {
		if c, ok := t.Capacity[s]; ok {
			fmt.Printf("%s: %g requests/s\n", s, c)
		} else {
			fmt.Printf("%s: capacity unknown\n", s)
		}
	}
	// Output:
	// reviews.default.svc.cluster.local/v1: 80 requests/s
	// reviews.default.svc.cluster.local/v2: 150 requests/s
	// reviews.default.svc.cluster.local/v3: capacity unknown
}
