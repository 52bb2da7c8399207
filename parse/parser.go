package parse

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"

	"github.com/bytedance/sonic"
)

// Parser extracts Records from access-log JSON payloads. It is not safe for concurrent use; give
// each goroutine its own. Values it returns are valid until its next Parse call.
type Parser struct {
	scratch []byte
}

var sonicAPI = sonic.Config{UseNumber: true, ValidateString: true}.Froze()

// Parse extracts the record in one JSON object. On failure it returns an *Error whose Reason says
// whether the line was skipped (not an access log) or rejected, and r holds no usable values.
func (p *Parser) Parse(line []byte, r *Record) error {
	r.Reset()
	p.scratch = p.scratch[:0]
	return p.parseSonic(line, r)
}

// accessLogKeys are the keys that make a JSON object an access-log record.
var accessLogKeys = [...]string{"upstream_cluster", "response_code", "fallback_result", "route_name", "start_time"}

func (p *Parser) parseSonic(line []byte, r *Record) error {
	trimmed := trimSpace(line)
	if len(trimmed) == 0 {
		return &Error{Reason: SkipBlank, Offset: -1}
	}
	if trimmed[0] != '{' {
		return &Error{Reason: SkipNotJSON, Offset: 0}
	}
	if !utf8.Valid(trimmed) {
		return &Error{Reason: RejectInvalidUTF8, Offset: invalidUTF8At(trimmed), Msg: "invalid UTF-8"}
	}
	var m map[string]any
	if err := sonicAPI.Unmarshal(trimmed, &m); err != nil {
		reason := RejectInvalidJSON
		if !json.Valid(trimmed) && looksTruncated(trimmed) {
			reason = RejectTruncated
		}
		return &Error{Reason: reason, Offset: -1, Msg: shortErr(err)}
	}
	found := false
	for _, k := range accessLogKeys {
		if _, ok := m[k]; ok {
			found = true
			break
		}
	}
	if !found {
		return &Error{Reason: SkipNotAccessLog, Offset: -1}
	}
	fields := [...]struct {
		key string
		dst *[]byte
	}{
		{"fallback_path", &r.FallbackPath},
		{"fallback_final_cluster_name", &r.FallbackFinalCluster},
		{"fallback_result", &r.FallbackResult},
		{"upstream_cluster", &r.UpstreamCluster},
		{"response_flags", &r.ResponseFlags},
		{"route_name", &r.RouteName},
		{"authority", &r.Authority},
		{"method", &r.Method},
		{"path", &r.Path},
		{"start_time", &r.StartTime},
		{"upstream_host", &r.UpstreamHost},
		{"request_id", &r.RequestID},
	}
	for _, f := range fields {
		v, ok := m[f.key]
		if !ok || v == nil {
			continue
		}
		switch v := v.(type) {
		case string:
			if v != "-" {
				start := len(p.scratch)
				p.scratch = append(p.scratch, v...)
				*f.dst = p.scratch[start:len(p.scratch):len(p.scratch)]
			}
		case json.Number:
			start := len(p.scratch)
			p.scratch = append(p.scratch, v...)
			*f.dst = p.scratch[start:len(p.scratch):len(p.scratch)]
		default:
			return &Error{Reason: RejectWrongType, Offset: -1, Field: f.key, Msg: "want a string"}
		}
	}
	// Appending may have moved scratch: re-slice is unnecessary because each field was sliced
	// after its own append, but earlier slices may point at a stale array; that is fine since the
	// stale array is not reused until the next Parse call.
	var err error
	if r.ResponseCode, err = intField(m, "response_code"); err != nil {
		return err
	}
	d, err := intField(m, "duration")
	if err != nil {
		return err
	}
	r.Duration = int64(d)
	if _, ok := m["duration"]; !ok || isMissing(m["duration"]) {
		r.Duration = -1
	}
	return finish(r)
}

// finish decodes the derived fields shared by every parsing path.
func finish(r *Record) error {
	r.Result = ParseResult(r.FallbackResult)
	flags, err := ParseFlags(r.ResponseFlags)
	if err != nil {
		// An unknown flag is kept as a set of the known ones; it does not cost the record.
		flags = 0
	}
	r.Flags = flags
	if r.UpstreamCluster != nil {
		if _, err := SplitCluster(r.UpstreamCluster); err != nil {
			return &Error{Reason: RejectBadCluster, Offset: -1, Field: "upstream_cluster", Msg: err.Error()}
		}
	}
	if r.FallbackFinalCluster != nil {
		if _, err := SplitCluster(r.FallbackFinalCluster); err != nil {
			return &Error{Reason: RejectBadCluster, Offset: -1, Field: "fallback_final_cluster_name", Msg: err.Error()}
		}
	}
	r.Clusters, err = SplitPath(r.FallbackPath, r.Clusters)
	if err != nil {
		return &Error{Reason: RejectBadFallbackPath, Offset: -1, Field: "fallback_path", Msg: err.Error()}
	}
	return nil
}

func isMissing(v any) bool {
	if v == nil {
		return true
	}
	s, ok := v.(string)
	return ok && (s == "-" || s == "")
}

func intField(m map[string]any, key string) (int, error) {
	v, ok := m[key]
	if !ok || isMissing(v) {
		return 0, nil
	}
	var s string
	switch v := v.(type) {
	case string:
		s = v
	case json.Number:
		s = string(v)
	default:
		return 0, &Error{Reason: RejectWrongType, Offset: -1, Field: key, Msg: "want a number"}
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, &Error{Reason: RejectWrongType, Offset: -1, Field: key, Msg: "want an integer, got " + strconv.Quote(truncate([]byte(s)))}
	}
	return n, nil
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\r' || b[0] == '\n') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t' || b[len(b)-1] == '\r' || b[len(b)-1] == '\n') {
		b = b[:len(b)-1]
	}
	return b
}

func invalidUTF8At(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return -1
}

func looksTruncated(b []byte) bool {
	return len(b) > 0 && b[len(b)-1] != '}'
}

func shortErr(err error) string {
	s := err.Error()
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
