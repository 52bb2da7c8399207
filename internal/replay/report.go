package replay

import (
	"sort"
	"time"

	"github.com/fallbackwatch/fallbackwatch/parse"
)

// Report is what one replay found. Its JSON form is the output of `collector replay --format json`.
type Report struct {
	Lines LineCounts `json:"lines"`
	// RecordsByDirection counts records by the side that wrote them: outbound (client side)
	// and none (no cluster) are routing decisions, counted in Groups and Timeline and checked;
	// inbound (server side), gateway and unknown are only counted here.
	RecordsByDirection map[string]int64 `json:"records_by_direction"`
	// RecordsWithoutFallbackFields counts records whose log format has none of ASM's fallback
	// keys: their verdict is unknown, never a violation.
	RecordsWithoutFallbackFields int64 `json:"records_without_fallback_fields"`
	// RecordsWithoutTime counts records without a usable start_time (R20): counted in the
	// groups, absent from the timeline and the health.
	RecordsWithoutTime int64 `json:"records_without_time"`
	// RecordsInvalidUTF8Ignored counts records kept although they held invalid UTF-8, in
	// fields fallbackwatch does not read (parse/doc.go).
	RecordsInvalidUTF8Ignored int64 `json:"records_invalid_utf8_ignored"`
	// Notes say, once each, what is wrong with the input's format and what to change.
	Notes           []string         `json:"notes"`
	RejectedReasons map[string]int64 `json:"rejected_reasons"`
	SkippedReasons  map[string]int64 `json:"skipped_reasons"`
	Rejects         []Located        `json:"rejects"` // the first rejected lines, located
	Files           []FileCounts     `json:"files"`
	Groups          []Group          `json:"groups"`
	Checked         bool             `json:"checked"` // routing configuration was given
	// Routing is the configuration the records were checked against; nil when none was given.
	Routing          *RoutingUsed                `json:"routing,omitempty"`
	Verdicts         map[string]int64            `json:"verdicts"`
	ViolationsTotal  int64                       `json:"violations_total"`
	ViolationsByRule map[string]int64            `json:"violations_by_rule"`
	Violations       []Located                   `json:"violations"` // the first inconsistent records, located
	Warnings         []Located                   `json:"warnings"`   // the first warnings (C6), located
	Timeline         []Minute                    `json:"timeline"`
	Health           map[string][]HealthInterval `json:"health"`
	// HealthDropped counts health evidence about clusters beyond the report's limit.
	HealthDropped int64 `json:"health_dropped,omitempty"`
	// BucketSeconds is the width of the timeline's buckets: 60, or more for long inputs.
	BucketSeconds int64 `json:"bucket_seconds"`
	// GroupsFolded counts records whose group did not fit under the report's limit; they are
	// counted in the group whose clusters are "__overflow__".
	GroupsFolded int64      `json:"groups_folded,omitempty"`
	First        *time.Time `json:"first_record,omitempty"`
	Last         *time.Time `json:"last_record,omitempty"`
}

// LineCounts counts what the input lines became.
type LineCounts struct {
	Total    int64 `json:"total"`
	Records  int64 `json:"records"`
	Rejected int64 `json:"rejected"`
	Skipped  int64 `json:"skipped"`
	// Fragments are lines that carried part of a longer record (CRI "P" lines): the record is
	// counted on the line where it ends.
	Fragments int64 `json:"fragments"`
	Bytes     int64 `json:"bytes"`
}

// FileCounts is LineCounts for one input.
type FileCounts struct {
	File string `json:"file"`
	LineCounts
}

// Located is one line worth showing: where it is and what is wrong with it.
type Located struct {
	seq     int    // the block it was found in, while Line counts within the block
	File    string `json:"file"`
	Line    int64  `json:"line"` // 1-based line on which the record ends
	Rule    string `json:"rule,omitempty"`
	Reason  string `json:"reason,omitempty"`
	Route   string `json:"route,omitempty"`
	Message string `json:"message"`
}

// Group counts the records that share a routing outcome.
type Group struct {
	DestinationService string           `json:"destination_service"`
	Route              string           `json:"route"`
	PrimaryCluster     string           `json:"primary_cluster"`
	FallbackCluster    string           `json:"fallback_cluster"`
	FinalCluster       string           `json:"final_cluster"`
	PrimarySubset      string           `json:"primary_subset"`
	FallbackSubset     string           `json:"fallback_subset"`
	FinalSubset        string           `json:"final_subset"`
	Result             string           `json:"result"`
	Requests           int64            `json:"requests"`
	CodeClasses        map[string]int64 `json:"code_classes"`
}

// Minute counts one route's requests to one primary cluster in one bucket of log time (a
// minute, or BucketSeconds for long inputs), by outcome.
type Minute struct {
	Minute             time.Time `json:"minute"`
	DestinationService string    `json:"destination_service"`
	Route              string    `json:"route"`
	PrimarySubset      string    `json:"primary_subset"`
	PrimaryCluster     string    `json:"primary_cluster"`
	Requests           int64     `json:"requests"`
	// Routed were served by the primary cluster, without fallback (R14).
	Routed          int64 `json:"routed"`
	FallbackSuccess int64 `json:"fallback_success"` // fell back and served (R15)
	FallbackFailed  int64 `json:"fallback_failed"`  // fallback failed: 503 UH (R16)
	// NoFallbackUH had no fallback to take: 503 UH (R14). Requests minus the four outcomes is
	// the rest (503 NC, R5).
	NoFallbackUH int64 `json:"no_fallback_uh"`
}

// HealthInterval is a span in which records showed a cluster healthy or unhealthy (C6). Long
// flapping histories are coarsened: a span holding both states is "mixed".
type HealthInterval struct {
	Start   time.Time `json:"start"`
	End     time.Time `json:"end"`
	State   string    `json:"state"`   // healthy, unhealthy or mixed
	Healthy bool      `json:"healthy"` // State == healthy
}

// NoRecords reports whether the input held lines other than blank ones but no access-log
// record: the format is wrong, or the input is not an access log.
func (r *Report) NoRecords() bool {
	return r.Lines.Records == 0 && r.Lines.Total-r.SkippedReasons[string(parse.SkipBlank)] > 0
}

// sortReport orders every list so that the same input always gives the same report.
func (r *Report) sort() {
	sort.Slice(r.Groups, func(i, j int) bool {
		a, b := &r.Groups[i], &r.Groups[j]
		if a.DestinationService != b.DestinationService {
			return a.DestinationService < b.DestinationService
		}
		if a.Route != b.Route {
			return a.Route < b.Route
		}
		if a.PrimaryCluster != b.PrimaryCluster {
			return a.PrimaryCluster < b.PrimaryCluster
		}
		if a.Result != b.Result {
			return a.Result < b.Result
		}
		if a.FallbackCluster != b.FallbackCluster {
			return a.FallbackCluster < b.FallbackCluster
		}
		return a.FinalCluster < b.FinalCluster
	})
	sort.Slice(r.Timeline, func(i, j int) bool {
		a, b := &r.Timeline[i], &r.Timeline[j]
		if !a.Minute.Equal(b.Minute) {
			return a.Minute.Before(b.Minute)
		}
		if a.Route != b.Route {
			return a.Route < b.Route
		}
		return a.PrimaryCluster < b.PrimaryCluster
	})
}
