// Package aggregate counts istio-proxy access-log records by what a mesh operator asks about:
// which service and subset a route chose, whether and where it fell back, which cluster served,
// the fallback result, the response code class, the matched route and the sidecar that logged it.
//
// Counters holds that state free of Prometheus types. Observe is safe for concurrent use and does
// not allocate once warm: a record is looked up by hashing its byte slices (cluster names, route,
// source) in one of a few lock stripes, and strings are made only the first time a stripe sees a
// new combination of them. Label values are
// valid UTF-8 and at most Config.MaxLabelLen bytes whatever the input, and the number of series per
// metric is bounded by Config.MaxSeries: a record that would create one series too many is counted
// in a series whose every label is "__overflow__", and fallbackwatch_label_overflow_total says how
// many records were folded that way.
//
// Snapshot returns the state as plain data (for the replay report and tests); NewCollector exports
// it to Prometheus at scrape time with the names and labels of docs/metrics.md.
//
// Idle series expiry is off by default. With Config.SeriesTTL set, a series that no record touched
// for SeriesTTL is dropped at the next Snapshot (a scrape) and starts again from zero if it comes
// back; a histogram series keeps everything its records counted for as long as it lives. Choose a
// TTL much longer than the longest rate() window of the rules (hours), so that an expiry never
// looks like a counter reset to a query.
//
// The package does not read logs, parse them or judge routing decisions: that is parse, the
// collector's sources and routing. It only counts what it is given.
package aggregate
