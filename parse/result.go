package parse

import "bytes"

// Result is the outcome recorded in fallback_result (R23).
type Result uint8

const (
	// ResultNone means the record carries no fallback_result: no fallback was attempted.
	ResultNone Result = iota
	// ResultSuccess is "fallback successful": the fallback target served the request (R15).
	ResultSuccess
	// ResultFailed is "fallback cluster is unhealthy": both clusters were unhealthy (R16).
	ResultFailed
	// ResultUnknown is any other string; it is reported, never rejected (R23).
	ResultUnknown
)

var resultNames = [...]string{"none", "success", "failed", "unknown"}

// String returns the label value used in metrics: none, success, failed or unknown.
func (r Result) String() string {
	if int(r) < len(resultNames) {
		return resultNames[r]
	}
	return "unknown"
}

// Result strings written by ASM's sidecar (R23).
const (
	ResultSuccessText = "fallback successful"
	ResultFailedText  = "fallback cluster is unhealthy"
)

// ParseResult classifies a raw fallback_result value. A nil or empty value is ResultNone.
func ParseResult(b []byte) Result {
	switch {
	case len(b) == 0:
		return ResultNone
	case bytes.Equal(b, []byte(ResultSuccessText)):
		return ResultSuccess
	case bytes.Equal(b, []byte(ResultFailedText)):
		return ResultFailed
	}
	return ResultUnknown
}
