package parse

import (
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

// FinalCluster is the cluster that served the request: fallback_final_cluster_name on success,
// nil on a failed fallback, else upstream_cluster.
func (r *Record) FinalCluster() []byte {
	switch r.Result {
	case ResultSuccess:
		if r.FallbackFinalCluster != nil {
			return r.FallbackFinalCluster
		}
		return r.UpstreamCluster
	case ResultFailed:
		return nil
	}
	return r.UpstreamCluster
}

// Time decodes StartTime (R20): RFC 3339 with or without fractional seconds.
func (r *Record) Time() (time.Time, error) {
	return ParseStartTime(r.StartTime)
}

// ParseStartTime decodes a start_time value (R20).
func ParseStartTime(b []byte) (time.Time, error) {
	return time.Parse(time.RFC3339Nano, string(b))
}
