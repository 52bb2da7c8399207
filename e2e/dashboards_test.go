package e2e

import (
	"fmt"
	"math"
	"regexp"
	"sort"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/fallbackwatch/fallbackwatch/dashboards"
)

// Metrics only one kind of source exports (docs/metrics.md): the tailer's and the Kafka
// consumer's. A deployment with one kind of source has no series of the other's, so the panels
// that query nothing else are empty there — the only dashboard queries allowed to be.
var (
	fileOnlyMetrics = map[string]bool{"fallbackwatch_files_tracked": true, "fallbackwatch_checkpoint_age_seconds": true,
		"fallbackwatch_file_rotations_total": true, "fallbackwatch_file_truncations_total": true}
	kafkaOnlyMetrics = map[string]bool{"fallbackwatch_kafka_consumer_lag": true, "fallbackwatch_kafka_messages_total": true,
		"fallbackwatch_kafka_commit_errors_total": true}
)

var metricNameRE = regexp.MustCompile(`\bfallbackwatch_[a-z_]+\b`)

// onlyOf reports whether every fallbackwatch metric expr uses is in set.
func onlyOf(expr string, set map[string]bool) bool {
	names := metricNameRE.FindAllString(expr, -1)
	for _, n := range names {
		if !set[n] {
			return false
		}
	}
	return len(names) > 0
}

// checkDashboards runs every query of the generated dashboards against p over the story, as
// Grafana would with "All" selected, and requires each to return data, except those using only
// metrics of otherSource, which must return none. It returns, per query, whether it had data.
func checkDashboards(t *testing.T, p *prom, files map[string][]byte, start, end time.Time, otherSource map[string]bool) map[string]bool {
	t.Helper()
	qs, err := dashboards.Queries(files)
	require.NoError(t, err)
	require.NotEmpty(t, qs)
	values := dashboards.DefaultValues()
	// Grafana's $__rate_interval is max(4 × scrape interval, $__interval + scrape interval); with
	// the 1 s scrape interval of this Prometheus and a 1 s step that is 4 s; 10 s (the short rule
	// window) smooths the 100 ms write batches. $__range covers the story.
	values["__rate_interval"] = "10s"
	values["__interval"] = "1s"
	values["__range"] = fmt.Sprintf("%ds", int(math.Ceil(end.Sub(start).Seconds())))
	hasData := map[string]bool{}
	var empty, unexpected []string
	for _, q := range qs {
		expr, err := dashboards.Expand(q.Expr, values)
		require.NoError(t, err, q.Where())
		n, err := countResults(p, q, expr, start, end)
		require.NoError(t, err, "%s: %s", q.Where(), expr)
		hasData[q.Where()] = n > 0
		switch allowed := onlyOf(expr, otherSource); {
		case allowed && n > 0:
			unexpected = append(unexpected, fmt.Sprintf("%s: %d results from metrics this deployment does not export: %s", q.Where(), n, expr))
		case !allowed && n == 0:
			empty = append(empty, fmt.Sprintf("%s: %s", q.Where(), expr))
		}
	}
	sort.Strings(empty)
	require.Empty(t, empty, "dashboard queries without data")
	require.Empty(t, unexpected)
	skipped := 0
	for _, ok := range hasData {
		if !ok {
			skipped++
		}
	}
	t.Logf("%d dashboard queries: %d with data, %d empty because they only query the other source's metrics", len(qs), len(qs)-skipped, skipped)
	return hasData
}

// countResults evaluates a query as Grafana does: a variable's selector as a series lookup
// (values of its label that are not empty), an instant query at the end of the story, a panel
// query over the story every second. It returns the number of non-empty results.
func countResults(p *prom, q dashboards.Query, expr string, start, end time.Time) (int, error) {
	switch {
	case q.Variable != "":
		sets, err := p.series(expr, start, end)
		if err != nil {
			return 0, err
		}
		vals := map[model.LabelValue]bool{}
		for _, s := range sets {
			if v := s[model.LabelName(q.Label)]; v != "" {
				vals[v] = true
			}
		}
		return len(vals), nil
	case q.Instant:
		v, err := p.query(expr, end)
		return len(v), err
	}
	m, err := p.queryRange(expr, start, end, time.Second)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, s := range m {
		if len(s.Values) > 0 {
			n++
		}
	}
	return n, nil
}

// TestOnlyOf pins the rule that decides which dashboard queries may be empty.
func TestOnlyOf(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want bool
	}{
		{`sum(max by (topic, partition) (fallbackwatch_kafka_consumer_lag))`, true},
		{`sum by (topic) (rate(fallbackwatch_kafka_messages_total[10s]))`, true},
		{`sum(rate(fallbackwatch_lines_read_total[10s]))`, false},
		{`sum(fallbackwatch_kafka_consumer_lag) / sum(rate(fallbackwatch_lines_read_total[10s]))`, false},
		{`vector(1)`, false},
	} {
		require.Equal(t, tc.want, onlyOf(tc.expr, kafkaOnlyMetrics), tc.expr)
	}
	require.True(t, onlyOf(`60 * sum(rate(fallbackwatch_file_truncations_total[10s]))`, fileOnlyMetrics))
}
