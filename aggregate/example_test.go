package aggregate_test

import (
	"fmt"

	"github.com/fallbackwatch/fallbackwatch/aggregate"
	"github.com/fallbackwatch/fallbackwatch/parse"
)

func Example() {
	counters, err := aggregate.NewCounters(aggregate.Config{MaxSeries: 1000})
	if err != nil {
		panic(err)
	}
	// Register aggregate.NewCollector(counters) with the binary's prometheus.Registry to export it.
	var p parse.Parser
	var rec parse.Record
	line := []byte(`{"duration":"10","fallback_path":"outbound|9080|v3|reviews.default.svc.cluster.local:outbound|9080|v2|reviews.default.svc.cluster.local","fallback_final_cluster_name":"outbound|9080|v2|reviews.default.svc.cluster.local","fallback_result":"fallback successful","response_code":"200","route_name":"-","upstream_cluster":"outbound|9080|v2|reviews.default.svc.cluster.local"}`)
	if err := p.Parse(line, &rec); err != nil {
		panic(err)
	}
	counters.Observe(&rec, nil, aggregate.Source{Namespace: "default", Workload: "productpage-v1"})
	for _, s := range counters.Snapshot().Requests {
		fmt.Printf("%s %s -> %s/%s %s %s: %d\n", s.DestinationService, s.PrimarySubset, s.FinalService, s.FinalSubset,
			s.Result, s.CodeClass, s.Requests)
	}
	// Output:
	// reviews.default.svc.cluster.local v3 -> reviews.default.svc.cluster.local/v2 success 2xx: 1
}
