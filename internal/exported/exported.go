// Package exported lists the series `collector run` exports and the labels each carries, as
// docs/metrics.md documents them. Tests of the generated rules and dashboards check their
// expressions against this one table; a test keeps it in step with the documentation, and
// cmd/alertgen checks the same expressions against the exposition of the real binary.
package exported

// Series maps each exported series name (histograms by their _bucket, _sum and _count series) to
// its labels. Prometheus adds job and instance to all of them when it scrapes.
var Series = map[string][]string{
	"fallbackwatch_requests_total": {"destination_service", "primary_subset", "fallback_service", "fallback_subset",
		"final_service", "final_subset", "result", "code_class", "route", "source_namespace", "source_workload"},
	"fallbackwatch_request_duration_seconds_bucket":    {"destination_service", "final_subset", "result", "le"},
	"fallbackwatch_request_duration_seconds_sum":       {"destination_service", "final_subset", "result"},
	"fallbackwatch_request_duration_seconds_count":     {"destination_service", "final_subset", "result"},
	"fallbackwatch_upstream_unhealthy_total":           {"destination_service", "primary_subset", "route", "result"},
	"fallbackwatch_decisions_total":                    {"verdict", "rule"},
	"fallbackwatch_label_overflow_total":               {"metric"},
	"fallbackwatch_lines_read_total":                   {"source"},
	"fallbackwatch_bytes_read_total":                   {"source"},
	"fallbackwatch_records_accepted_total":             {"source", "direction"},
	"fallbackwatch_records_incomplete_total":           {"source", "missing"},
	"fallbackwatch_records_invalid_utf8_ignored_total": {"source"},
	"fallbackwatch_lines_rejected_total":               {"source", "reason"},
	"fallbackwatch_lines_skipped_total":                {"source", "reason"},
	"fallbackwatch_files_tracked":                      {},
	"fallbackwatch_file_rotations_total":               {"kind"},
	"fallbackwatch_file_truncations_total":             {},
	"fallbackwatch_checkpoint_age_seconds":             {},
	"fallbackwatch_kafka_consumer_lag":                 {"topic", "partition"},
	"fallbackwatch_kafka_messages_total":               {"topic"},
	"fallbackwatch_kafka_commit_errors_total":          {"topic"},
	"fallbackwatch_source_ready":                       {"source"},
	"fallbackwatch_build_info":                         {"version", "revision", "branch", "goversion", "goos", "goarch", "tags", "builddate"},

	// The configuration reload, as Prometheus exports it for itself; 0/1 and Unix time.
	"fallbackwatch_config_last_reload_successful":                {},
	"fallbackwatch_config_last_reload_success_timestamp_seconds": {},

	// Routing from the Kubernetes API (--routing.kubeconfig, --routing.kubernetes) only.
	"fallbackwatch_config_watch_up":      {},
	"fallbackwatch_config_objects":       {"kind"},
	"fallbackwatch_config_lint_findings": {"severity"},
}
