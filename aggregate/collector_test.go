package aggregate

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

func TestCollector(t *testing.T) {
	c := newCounters(t, Config{MaxSeries: 3})
	success, failed := loadRecord(t, "success"), loadRecord(t, "failed")
	for range 3 {
		c.Observe(success, []byte("default/reviews-route#0"), productpage)
	}
	c.Observe(failed, []byte("default/reviews-route#0"), productpage)
	c.ObserveVerdict("consistent", "none")
	c.ObserveVerdict("inconsistent", "C3")

	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(NewCollector(c)))

	const want = `
# HELP fallbackwatch_decisions_total Verdicts of the routing checker on recorded fallback decisions, by the rule a record broke.
# TYPE fallbackwatch_decisions_total counter
fallbackwatch_decisions_total{rule="C3",verdict="inconsistent"} 1
fallbackwatch_decisions_total{rule="none",verdict="consistent"} 1
# HELP fallbackwatch_label_overflow_total Records counted in a metric's __overflow__ series because their label set did not fit under the series limit.
# TYPE fallbackwatch_label_overflow_total counter
fallbackwatch_label_overflow_total{metric="fallbackwatch_decisions_total"} 0
fallbackwatch_label_overflow_total{metric="fallbackwatch_request_duration_seconds"} 0
fallbackwatch_label_overflow_total{metric="fallbackwatch_requests_total"} 0
fallbackwatch_label_overflow_total{metric="fallbackwatch_upstream_unhealthy_total"} 0
# HELP fallbackwatch_request_duration_seconds Envoy's request duration, by destination service, the subset that served and the fallback result.
# TYPE fallbackwatch_request_duration_seconds histogram
fallbackwatch_request_duration_seconds_bucket{destination_service="reviews.default.svc.cluster.local",final_subset="",result="failed",le="0.001"} 1
fallbackwatch_request_duration_seconds_bucket{destination_service="reviews.default.svc.cluster.local",final_subset="",result="failed",le="0.0025"} 1
fallbackwatch_request_duration_seconds_bucket{destination_service="reviews.default.svc.cluster.local",final_subset="",result="failed",le="0.005"} 1
fallbackwatch_request_duration_seconds_bucket{destination_service="reviews.default.svc.cluster.local",final_subset="",result="failed",le="0.01"} 1
fallbackwatch_request_duration_seconds_bucket{destination_service="reviews.default.svc.cluster.local",final_subset="",result="failed",le="0.025"} 1
fallbackwatch_request_duration_seconds_bucket{destination_service="reviews.default.svc.cluster.local",final_subset="",result="failed",le="0.05"} 1
fallbackwatch_request_duration_seconds_bucket{destination_service="reviews.default.svc.cluster.local",final_subset="",result="failed",le="0.1"} 1
fallbackwatch_request_duration_seconds_bucket{destination_service="reviews.default.svc.cluster.local",final_subset="",result="failed",le="0.25"} 1
fallbackwatch_request_duration_seconds_bucket{destination_service="reviews.default.svc.cluster.local",final_subset="",result="failed",le="0.5"} 1
fallbackwatch_request_duration_seconds_bucket{destination_service="reviews.default.svc.cluster.local",final_subset="",result="failed",le="1"} 1
fallbackwatch_request_duration_seconds_bucket{destination_service="reviews.default.svc.cluster.local",final_subset="",result="failed",le="2.5"} 1
fallbackwatch_request_duration_seconds_bucket{destination_service="reviews.default.svc.cluster.local",final_subset="",result="failed",le="5"} 1
fallbackwatch_request_duration_seconds_bucket{destination_service="reviews.default.svc.cluster.local",final_subset="",result="failed",le="10"} 1
fallbackwatch_request_duration_seconds_bucket{destination_service="reviews.default.svc.cluster.local",final_subset="",result="failed",le="30"} 1
fallbackwatch_request_duration_seconds_bucket{destination_service="reviews.default.svc.cluster.local",final_subset="",result="failed",le="+Inf"} 1
fallbackwatch_request_duration_seconds_sum{destination_service="reviews.default.svc.cluster.local",final_subset="",result="failed"} 0
fallbackwatch_request_duration_seconds_count{destination_service="reviews.default.svc.cluster.local",final_subset="",result="failed"} 1
fallbackwatch_request_duration_seconds_bucket{destination_service="reviews.default.svc.cluster.local",final_subset="v2",result="success",le="0.001"} 0
fallbackwatch_request_duration_seconds_bucket{destination_service="reviews.default.svc.cluster.local",final_subset="v2",result="success",le="0.0025"} 0
fallbackwatch_request_duration_seconds_bucket{destination_service="reviews.default.svc.cluster.local",final_subset="v2",result="success",le="0.005"} 0
fallbackwatch_request_duration_seconds_bucket{destination_service="reviews.default.svc.cluster.local",final_subset="v2",result="success",le="0.01"} 3
fallbackwatch_request_duration_seconds_bucket{destination_service="reviews.default.svc.cluster.local",final_subset="v2",result="success",le="0.025"} 3
fallbackwatch_request_duration_seconds_bucket{destination_service="reviews.default.svc.cluster.local",final_subset="v2",result="success",le="0.05"} 3
fallbackwatch_request_duration_seconds_bucket{destination_service="reviews.default.svc.cluster.local",final_subset="v2",result="success",le="0.1"} 3
fallbackwatch_request_duration_seconds_bucket{destination_service="reviews.default.svc.cluster.local",final_subset="v2",result="success",le="0.25"} 3
fallbackwatch_request_duration_seconds_bucket{destination_service="reviews.default.svc.cluster.local",final_subset="v2",result="success",le="0.5"} 3
fallbackwatch_request_duration_seconds_bucket{destination_service="reviews.default.svc.cluster.local",final_subset="v2",result="success",le="1"} 3
fallbackwatch_request_duration_seconds_bucket{destination_service="reviews.default.svc.cluster.local",final_subset="v2",result="success",le="2.5"} 3
fallbackwatch_request_duration_seconds_bucket{destination_service="reviews.default.svc.cluster.local",final_subset="v2",result="success",le="5"} 3
fallbackwatch_request_duration_seconds_bucket{destination_service="reviews.default.svc.cluster.local",final_subset="v2",result="success",le="10"} 3
fallbackwatch_request_duration_seconds_bucket{destination_service="reviews.default.svc.cluster.local",final_subset="v2",result="success",le="30"} 3
fallbackwatch_request_duration_seconds_bucket{destination_service="reviews.default.svc.cluster.local",final_subset="v2",result="success",le="+Inf"} 3
fallbackwatch_request_duration_seconds_sum{destination_service="reviews.default.svc.cluster.local",final_subset="v2",result="success"} 0.03
fallbackwatch_request_duration_seconds_count{destination_service="reviews.default.svc.cluster.local",final_subset="v2",result="success"} 3
# HELP fallbackwatch_requests_total Access-log records by the service and subset the route chose, the fallback target, the cluster that served, the fallback result and the response code class.
# TYPE fallbackwatch_requests_total counter
fallbackwatch_requests_total{code_class="2xx",destination_service="reviews.default.svc.cluster.local",fallback_service="reviews.default.svc.cluster.local",fallback_subset="v2",final_service="reviews.default.svc.cluster.local",final_subset="v2",primary_subset="v3",result="success",route="default/reviews-route#0",source_namespace="default",source_workload="productpage-v1"} 3
fallbackwatch_requests_total{code_class="5xx",destination_service="reviews.default.svc.cluster.local",fallback_service="reviews.default.svc.cluster.local",fallback_subset="v2",final_service="",final_subset="",primary_subset="v3",result="failed",route="default/reviews-route#0",source_namespace="default",source_workload="productpage-v1"} 1
# HELP fallbackwatch_upstream_unhealthy_total Access-log records whose response flags contain UH (no healthy upstream endpoint), by the service and subset the route chose, the route and the fallback result.
# TYPE fallbackwatch_upstream_unhealthy_total counter
fallbackwatch_upstream_unhealthy_total{destination_service="reviews.default.svc.cluster.local",primary_subset="v3",result="failed",route="default/reviews-route#0"} 1
fallbackwatch_upstream_unhealthy_total{destination_service="reviews.default.svc.cluster.local",primary_subset="v3",result="success",route="default/reviews-route#0"} 0
`
	require.NoError(t, testutil.CollectAndCompare(reg, strings.NewReader(want)))
	problems, err := testutil.CollectAndLint(NewCollector(c))
	require.NoError(t, err)
	require.Empty(t, problems)
	require.Equal(t, 12, testutil.CollectAndCount(NewCollector(c)))
}

// TestCollectorOverflow: the overflow series export cleanly next to the others, and a pedantic
// registry finds no duplicate or inconsistent series.
func TestCollectorOverflow(t *testing.T) {
	c := newCounters(t, Config{MaxSeries: 1})
	rec := loadRecord(t, "none")
	for _, route := range []string{"a", "b", "c\xff"} {
		c.Observe(rec, []byte(route), Source{Namespace: "default", Workload: "x\xfe"})
	}
	for _, v := range []string{"consistent", "warning"} {
		c.ObserveVerdict(v, "none")
	}
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(NewCollector(c)))
	const want = `
# HELP fallbackwatch_label_overflow_total Records counted in a metric's __overflow__ series because their label set did not fit under the series limit.
# TYPE fallbackwatch_label_overflow_total counter
fallbackwatch_label_overflow_total{metric="fallbackwatch_decisions_total"} 1
fallbackwatch_label_overflow_total{metric="fallbackwatch_request_duration_seconds"} 0
fallbackwatch_label_overflow_total{metric="fallbackwatch_requests_total"} 2
fallbackwatch_label_overflow_total{metric="fallbackwatch_upstream_unhealthy_total"} 0
# HELP fallbackwatch_requests_total Access-log records by the service and subset the route chose, the fallback target, the cluster that served, the fallback result and the response code class.
# TYPE fallbackwatch_requests_total counter
fallbackwatch_requests_total{code_class="2xx",destination_service="reviews.default.svc.cluster.local",fallback_service="",fallback_subset="",final_service="reviews.default.svc.cluster.local",final_subset="v3",primary_subset="v3",result="none",route="a",source_namespace="default",source_workload="x\uFFFD"} 1
fallbackwatch_requests_total{code_class="__overflow__",destination_service="__overflow__",fallback_service="__overflow__",fallback_subset="__overflow__",final_service="__overflow__",final_subset="__overflow__",primary_subset="__overflow__",result="__overflow__",route="__overflow__",source_namespace="__overflow__",source_workload="__overflow__"} 2
`
	require.NoError(t, testutil.CollectAndCompare(reg, strings.NewReader(strings.ReplaceAll(want, `\uFFFD`, "\uFFFD")),
		MetricOverflow, MetricRequests))
	mfs, err := reg.Gather()
	require.NoError(t, err)
	require.Len(t, mfs, 5)
	problems, err := testutil.CollectAndLint(NewCollector(c))
	require.NoError(t, err)
	require.Empty(t, problems)
}
