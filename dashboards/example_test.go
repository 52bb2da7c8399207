package dashboards_test

import (
	"fmt"
	"sort"
	"strings"

	"github.com/fallbackwatch/fallbackwatch/dashboards"
	"github.com/fallbackwatch/fallbackwatch/topology"
)

// The source document's sample 1: reviews v3 falls back to v2, and v2 can serve 150 requests/s.
func ExampleGenerate() {
	reviews := "reviews.default.svc.cluster.local"
	v2 := topology.Subset{Service: reviews, Subset: "v2"}
	v3 := topology.Subset{Service: reviews, Subset: "v3"}
	files, err := dashboards.Generate(&topology.Topology{
		Subsets:  []topology.Subset{v2, v3},
		Edges:    []topology.Edge{{Route: "default/reviews-route#0", From: v3, To: v2}},
		Capacity: map[topology.Subset]float64{v2: 150},
	}, dashboards.Options{Namespace: "monitoring"})
	if err != nil {
		fmt.Println(err)
		return
	}
	var names []string
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	fmt.Println(strings.Join(names, "\n"))
	// Output:
	// fallbackwatch-dashboards-configmap.yaml
	// fallbackwatch-overview.json
	// fallbackwatch-pipeline.json
}
