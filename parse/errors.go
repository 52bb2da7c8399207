package parse

import "fmt"

// Reason names why a line was skipped or rejected. The values are the `reason` label of
// fallbackwatch_lines_skipped_total and fallbackwatch_lines_rejected_total.
type Reason string

// Skip reasons: the line is not an access-log record at all.
const (
	SkipBlank        Reason = "blank"          // empty or white space only
	SkipNotJSON      Reason = "not_json"       // Envoy's own log and other lines not starting with '{'
	SkipNotAccessLog Reason = "not_access_log" // a JSON object without any access-log key
	// SkipEnvoyText is an access-log record in Envoy's TEXT encoding (Istio's default,
	// "[START_TIME] \"METHOD PATH PROTOCOL\" CODE FLAGS …"): the format is wrong, not the traffic.
	SkipEnvoyText Reason = "envoy_text"
	// SkipMultilineJSON is a line of a JSON object printed over several lines ("{", a lone
	// `"key": value,` member, "}"), as documentation pages print access-log records.
	SkipMultilineJSON Reason = "multiline_json"
)

// Reject reasons: the line meant to be a record and cannot be used.
const (
	RejectInvalidJSON     Reason = "invalid_json"
	RejectTruncated       Reason = "truncated" // the JSON ends before the object closes
	RejectTooLong         Reason = "too_long"  // over the line-length cap
	RejectInvalidUTF8     Reason = "invalid_utf8"
	RejectWrongType       Reason = "wrong_type" // e.g. response_code is an object
	RejectBadCluster      Reason = "bad_cluster"
	RejectBadFallbackPath Reason = "bad_fallback_path"
	RejectBadEnvelope     Reason = "bad_envelope"         // a CRI or docker wrapper that cannot be read
	RejectPartialOverflow Reason = "partial_overflow"     // CRI partial fragments over the cap
	RejectUnterminated    Reason = "unterminated_partial" // partial fragments whose input ended before the final one
)

// Skipped reports whether r is a skip reason (not an error in the input).
func (r Reason) Skipped() bool {
	switch r {
	case SkipBlank, SkipNotJSON, SkipNotAccessLog, SkipEnvoyText, SkipMultilineJSON:
		return true
	}
	return false
}

// FormatMismatch reports whether r says the access log is in a format fallbackwatch does not
// read (Envoy TEXT, multi-line JSON), rather than that a line is not an access log.
func (r Reason) FormatMismatch() bool {
	return r == SkipEnvoyText || r == SkipMultilineJSON
}

// Error is a line that was skipped or rejected: why, and where in the line.
type Error struct {
	Reason Reason
	Offset int    // byte offset in the JSON payload where the problem was found, -1 when not known
	Field  string // the access-log key concerned, "" when none
	Msg    string
}

func (e *Error) Error() string {
	s := string(e.Reason)
	if e.Field != "" {
		s += " in " + e.Field
	}
	if e.Offset >= 0 {
		s += fmt.Sprintf(" at byte %d", e.Offset)
	}
	if e.Msg != "" {
		s += ": " + e.Msg
	}
	return s
}
