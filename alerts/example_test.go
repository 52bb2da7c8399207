package alerts_test

import (
	"fmt"

	"github.com/fallbackwatch/fallbackwatch/alerts"
	"github.com/fallbackwatch/fallbackwatch/topology"
)

// The source document's sample 1: reviews v3 falls back to v2, and v2 can serve 150 requests/s.
func ExampleGenerate() {
	v2 := topology.Subset{Service: "reviews.default.svc.cluster.local", Subset: "v2"}
	v3 := topology.Subset{Service: "reviews.default.svc.cluster.local", Subset: "v3"}
	t := &topology.Topology{
		Subsets:  []topology.Subset{v2, v3},
		Edges:    []topology.Edge{{Route: "default/reviews-route#0", From: v3, To: v2}},
		Capacity: map[topology.Subset]float64{v2: 150},
	}
	f, err := alerts.Generate(t, alerts.Options{Selector: `{namespace="mesh"}`})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range f.Groups[1].Rules {
		fmt.Println(r.Alert, r.Labels["severity"], r.For)
	}
	// Output:
	// FallbackSustained critical 5m
	// FallbackSustained warning 15m
	// FallbackFailed critical 1m
	// UnprotectedOutage critical 2m
	// FallbackTargetOverCapacity warning 5m
	// FailoverExceedsCapacity warning 15m
	// FallbackDecisionsInconsistent warning 15m
	// FallbackwatchCollectorAbsent warning 5m
	// FallbackwatchCollectorDown warning 5m
	// FallbackwatchLinesRejected warning 5m
	// FallbackwatchKafkaLagGrowing warning 15m
	// FallbackwatchLabelOverflow warning 5m
	// FallbackwatchConfigReloadFailed warning 5m
	// FallbackwatchRoutingWatchDown warning 5m
}
