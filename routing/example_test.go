package routing_test

import (
	"fmt"

	"github.com/fallbackwatch/fallbackwatch/parse"
	"github.com/fallbackwatch/fallbackwatch/routing"
)

// Seed sample 2: 50% v3 (fallback v2), 50% v2 (fallback v1); v3 and v2 down.
func ExampleConfig_Simulate() {
	cfg, err := routing.Load("../testdata/bookinfo/destinationrule.yaml", "../testdata/bookinfo/sample2.yaml")
	if err != nil {
		panic(err)
	}
	sim, err := cfg.Simulate([]string{"reviews/v3", "reviews/v2"})
	if err != nil {
		panic(err)
	}
	r := sim.Routes[0]
	fmt.Println(r.Route.Label(), r.Final, "failed", r.Failed)
	// Output: default/reviews-route#0 map[reviews.default.svc.cluster.local/v1:0.5] failed 0.5
}

// Checking the seed's failed-fallback record against sample 2.
func ExampleChecker_Check() {
	cfg, err := routing.Load("../testdata/bookinfo/destinationrule.yaml", "../testdata/bookinfo/sample2.yaml")
	if err != nil {
		panic(err)
	}
	line := []byte(`{"authority":"reviews:9080","method":"GET","path":"/reviews/0","response_code":"503","response_flags":"UH",` +
		`"upstream_cluster":"outbound|9080|v3|reviews.default.svc.cluster.local",` +
		`"fallback_path":"outbound|9080|v3|reviews.default.svc.cluster.local:outbound|9080|v1|reviews.default.svc.cluster.local",` +
		`"fallback_result":"fallback cluster is unhealthy","start_time":"2023-05-30T07:32:08.999Z"}`)
	var p parse.Parser
	var rec parse.Record
	if err := p.Parse(line, &rec); err != nil {
		panic(err)
	}
	at, _ := rec.Time()
	v := routing.NewChecker(cfg, routing.CheckOptions{}).Check(&rec, at)
	fmt.Println(v.Kind, v.Rule)
	fmt.Println(v.Message)
	// Output:
	// inconsistent C3
	// reviews.default.svc.cluster.local/v3 falls back to reviews.default.svc.cluster.local/v2, but the record's fallback_path goes to outbound|9080|v1|reviews.default.svc.cluster.local
}

// A root route hands /api to a delegate VirtualService; requests are matched against the
// delegate's routes, merged with the root's match.
func ExampleVirtualService_Routes() {
	cfg, err := routing.Load("testdata/delegate.good.yaml")
	if err != nil {
		panic(err)
	}
	vs := cfg.VirtualServiceFor("reviews.shop")
	for _, r := range vs.Routes() {
		via := ""
		if r.Via != nil {
			via = " via " + r.Via.Label()
		}
		fmt.Println(r.Label() + via)
	}
	d := cfg.Decide(routing.Request{Authority: "reviews.shop:9080", Path: "/api/v2/books"}, 0, routing.AllHealthy)
	fmt.Println(d.UpstreamCluster)
	// Output:
	// team/reviews-api#v2 via shop/reviews#api
	// team/reviews-api#other-api via shop/reviews#api
	// shop/reviews#rest
	// outbound|9080|v2|reviews.shop.svc.cluster.local
}
