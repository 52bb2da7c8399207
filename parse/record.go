package parse

import (
	"fmt"
	"strconv"
	"time"
)

// Record is one access-log record: the fields fallbackwatch reads (R18). Missing values ("-",
// null or an absent key, R19) are nil. The byte slices borrow from the line and from the Parser's
// scratch buffer and stay valid until the next Parse call on the same Parser.
type Record struct {
	FallbackPath         []byte
	FallbackFinalCluster []byte
	FallbackResult       []byte
	UpstreamCluster      []byte
	ResponseFlags        []byte
	RouteName            []byte
	Authority            []byte
	Method               []byte
	Path                 []byte
	StartTime            []byte
	UpstreamHost         []byte
	RequestID            []byte
	Protocol             []byte // HTTP/1.1, HTTP/2 …; missing ("-") for TCP connections

	// FallbackFields reports that the log format writes ASM's fallback keys: at least one of
	// fallback_path, fallback_final_cluster_name and fallback_result is present, even as "-"
	// or null. Istio's default JSON format has none of them; such a record says nothing about
	// fallback, which is not the same as saying that no fallback happened.
	FallbackFields bool
	// InvalidUTF8Ignored reports that the line held invalid UTF-8 only where fallbackwatch does
	// not read (user_agent, upstream_host, unknown keys): the bytes were replaced by U+FFFD
	// and the record kept. Invalid UTF-8 in a field fallbackwatch reads rejects the record.
	InvalidUTF8Ignored bool
	// hasProtocol: the protocol key is present (a TCP record writes it as "-").
	hasProtocol bool

	ResponseCode int   // 0 when missing
	Duration     int64 // milliseconds; -1 when missing

	// Decoded by Parse from the raw fields above.
	Result Result
	Flags  Flags
	// Clusters holds the elements of FallbackPath (R22); empty when there is none.
	Clusters [][]byte
}

// Reset clears r for reuse, keeping the Clusters backing array.
func (r *Record) Reset() {
	clusters := r.Clusters[:0]
	*r = Record{Duration: -1, Clusters: clusters}
}

// PrimaryCluster is the cluster the route chose: the first element of fallback_path, else
// upstream_cluster.
func (r *Record) PrimaryCluster() []byte {
	if len(r.Clusters) > 0 {
		return r.Clusters[0]
	}
	return r.UpstreamCluster
}

// FallbackCluster is the second element of fallback_path, nil when there is none.
func (r *Record) FallbackCluster() []byte {
	if len(r.Clusters) > 1 {
		return r.Clusters[1]
	}
	return nil
}

// FinalCluster is the cluster that served the request: fallback_final_cluster_name on success
// (R15); nil when nobody served it — a failed fallback (R16), or no healthy upstream and no
// fallback (R14: 503 UH, upstream_cluster names the cluster that had none), or a cluster that
// does not exist (R5: 503 NC); else upstream_cluster.
func (r *Record) FinalCluster() []byte {
	switch r.Result {
	case ResultSuccess:
		if r.FallbackFinalCluster != nil {
			return r.FallbackFinalCluster
		}
		return r.UpstreamCluster
	case ResultFailed:
		return nil
	case ResultNone:
		if r.Flags.Has(FlagUH) || r.Flags.Has(FlagNC) {
			return nil
		}
	}
	return r.UpstreamCluster
}

// Direction says which side of a connection wrote the record, from its first cluster.
func (r *Record) Direction() Direction {
	c := r.PrimaryCluster()
	if len(c) == 0 {
		return DirectionNone
	}
	ref, err := SplitCluster(c)
	if err != nil {
		return DirectionUnknown
	}
	return ref.Kind.Direction()
}

// IsTCP reports whether the record is of a TCP connection rather than an HTTP request: Envoy
// writes response code 0 and protocol "-" for those. A format without the protocol key cannot
// tell, and its records are never TCP.
func (r *Record) IsTCP() bool {
	return r.ResponseCode == 0 && r.Protocol == nil && r.hasProtocol
}

// Time decodes StartTime (R20), see ParseStartTime.
func (r *Record) Time() (time.Time, error) {
	return ParseStartTime(r.StartTime)
}

// ParseStartTime decodes a start_time value in any form Envoy's %START_TIME% writes in
// practice (R20): RFC 3339 with or without fractional seconds and with "Z" or a numeric offset
// ("+08:00"), the same with an offset without colon ("+0000", from %z), and epoch seconds with
// an optional fraction (%START_TIME(%s)% and %START_TIME(%s.%3f)%).
func ParseStartTime(b []byte) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, string(b)); err == nil {
		return t, nil
	} else if t, ok := parseEpoch(b); ok {
		return t, nil
	} else if t, err2 := time.Parse("2006-01-02T15:04:05.999999999-0700", string(b)); err2 == nil {
		return t, nil
	} else {
		return time.Time{}, fmt.Errorf("start_time %s: want RFC 3339, an offset like +0000 or epoch seconds (R20)", strconv.Quote(truncate(b)))
	}
}

// parseEpoch decodes decimal seconds since 1970 with up to 9 digits of fraction.
func parseEpoch(b []byte) (time.Time, bool) {
	i := 0
	var sec int64
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		if i >= 12 { // beyond year 33658: not a start time
			return time.Time{}, false
		}
		sec = sec*10 + int64(b[i]-'0')
		i++
	}
	if i == 0 {
		return time.Time{}, false
	}
	frac, ok := fraction(b[i:])
	if !ok {
		return time.Time{}, false
	}
	return time.Unix(sec, int64(frac)).UTC(), true
}
