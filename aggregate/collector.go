package aggregate

import (
	"github.com/prometheus/client_golang/prometheus"
)

// collector exports a Counters' snapshot as constant metrics at scrape time.
type collector struct {
	c         *Counters
	requests  *prometheus.Desc
	duration  *prometheus.Desc
	decisions *prometheus.Desc
	overflow  *prometheus.Desc
	unhealthy *prometheus.Desc
}

// NewCollector returns a prometheus.Collector exporting c with the names and labels of
// docs/metrics.md: fallbackwatch_requests_total, fallbackwatch_request_duration_seconds,
// fallbackwatch_upstream_unhealthy_total, fallbackwatch_decisions_total and
// fallbackwatch_label_overflow_total. Each scrape takes one Snapshot.
func NewCollector(c *Counters) prometheus.Collector {
	return &collector{
		c: c,
		requests: prometheus.NewDesc(MetricRequests,
			"Access-log records by the service and subset the route chose, the fallback target, the cluster that served, the fallback result and the response code class.",
			requestLabelNames, nil),
		duration: prometheus.NewDesc(MetricDuration,
			"Envoy's request duration, by destination service, the subset that served and the fallback result.",
			durationLabelNames, nil),
		unhealthy: prometheus.NewDesc(MetricUnhealthy,
			"Access-log records whose response flags contain UH (no healthy upstream endpoint), by the service and subset the route chose, the route and the fallback result.",
			unhealthyLabelNames, nil),
		decisions: prometheus.NewDesc(MetricDecisions,
			"Verdicts of the routing checker on recorded fallback decisions, by the rule a record broke.",
			[]string{"verdict", "rule"}, nil),
		overflow: prometheus.NewDesc(MetricOverflow,
			"Records counted in a metric's __overflow__ series because their label set did not fit under the series limit.",
			[]string{"metric"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (col *collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- col.requests
	ch <- col.duration
	ch <- col.unhealthy
	ch <- col.decisions
	ch <- col.overflow
}

// Collect implements prometheus.Collector.
func (col *collector) Collect(ch chan<- prometheus.Metric) {
	snap := col.c.Snapshot()
	for i := range snap.Requests {
		r := &snap.Requests[i]
		ch <- prometheus.MustNewConstMetric(col.requests, prometheus.CounterValue, float64(r.Requests), r.values()...)
	}
	for _, d := range snap.Durations {
		buckets := make(map[float64]uint64, len(d.Buckets))
		for i, n := range d.Buckets {
			buckets[durationBounds[i]] = n
		}
		ch <- prometheus.MustNewConstHistogram(col.duration, d.Count, d.SumSeconds, buckets,
			d.DestinationService, d.FinalSubset, d.Result)
	}
	for _, u := range snap.Unhealthy {
		ch <- prometheus.MustNewConstMetric(col.unhealthy, prometheus.CounterValue, float64(u.Count),
			u.DestinationService, u.PrimarySubset, u.Route, u.Result)
	}
	for _, d := range snap.Decisions {
		ch <- prometheus.MustNewConstMetric(col.decisions, prometheus.CounterValue, float64(d.Count), d.Verdict, d.Rule)
	}
	for _, m := range []string{MetricRequests, MetricDuration, MetricUnhealthy, MetricDecisions} {
		ch <- prometheus.MustNewConstMetric(col.overflow, prometheus.CounterValue, float64(snap.Overflow[m]), m)
	}
}
