package aggregate

import (
	"hash/maphash"
	"strings"
	"unicode/utf8"

	"github.com/fallbackwatch/fallbackwatch/parse"
)

// OverflowValue is every label value of the series that takes the records which would have
// created one series more than Config.MaxSeries.
const OverflowValue = "__overflow__"

// Metric names, as in docs/metrics.md.
const (
	MetricRequests  = "fallbackwatch_requests_total"
	MetricDuration  = "fallbackwatch_request_duration_seconds"
	MetricDecisions = "fallbackwatch_decisions_total"
	MetricOverflow  = "fallbackwatch_label_overflow_total"
	MetricUnhealthy = "fallbackwatch_upstream_unhealthy_total"
)

// requestLabelNames are the labels of fallbackwatch_requests_total in exposition order.
var requestLabelNames = []string{
	"destination_service", "primary_subset", "fallback_service", "fallback_subset",
	"final_service", "final_subset", "result", "code_class", "route",
	"source_namespace", "source_workload",
}

// durationLabelNames are the labels of fallbackwatch_request_duration_seconds.
var durationLabelNames = []string{"destination_service", "final_subset", "result"}

// unhealthyLabelNames are the labels of fallbackwatch_upstream_unhealthy_total: the request
// labels at indexes 0, 1, 8 and 6 (see seriesLocked).
var unhealthyLabelNames = []string{"destination_service", "primary_subset", "route", "result"}

var resultNames = [...]string{
	parse.ResultNone:    parse.ResultNone.String(),
	parse.ResultSuccess: parse.ResultSuccess.String(),
	parse.ResultFailed:  parse.ResultFailed.String(),
	parse.ResultUnknown: parse.ResultUnknown.String(),
}

// resultIndex maps a parse.Result to an index of resultNames; values parse does not define are
// unknown (R23).
func resultIndex(r parse.Result) uint8 {
	if int(r) < len(resultNames) {
		return uint8(r)
	}
	return uint8(parse.ResultUnknown)
}

// NoneService is the destination_service of records that name no upstream cluster: the request
// never reached a routing decision (404 NR, or 503 UC before a route was chosen).
const NoneService = "__none__"

// noneService is NoneService as bytes, for building label values without allocating.
var noneService = []byte(NoneService)

var codeClassNames = [...]string{"0xx", "1xx", "2xx", "3xx", "4xx", "5xx", "tcp"}

// codeClassTCP is the index of "tcp" in codeClassNames.
const codeClassTCP = 6

// codeClass maps a record's response code to an index of codeClassNames: tcp for a TCP
// connection (code 0, protocol "-"), 0xx when no response was sent (code 0, e.g. a downstream
// disconnect) or the code is not an HTTP status.
func codeClass(rec *parse.Record) uint8 {
	if rec.IsTCP() {
		return codeClassTCP
	}
	if code := rec.ResponseCode; code >= 100 && code <= 599 {
		return uint8(code / 100)
	}
	return 0
}

// CodeClass is the code_class label value of rec: 0xx … 5xx, or tcp.
func CodeClass(rec *parse.Record) string { return codeClassNames[codeClass(rec)] }

// kindNames are the label values of clusters that are not outbound (R2): they keep their kind's
// name in the service label, with an empty subset.
var kindNames = func() (names [16][]byte) {
	for k := range names {
		names[k] = []byte(parse.ClusterKind(k).String())
	}
	return names
}()

// ClusterLabels maps a cluster name to its service and subset label values: the FQDN and subset
// of an outbound cluster; the FQDN of an inbound cluster that names one (the port name of a
// pre-1.10 name is not a subset), else its kind's name; the kind's name for the well-known
// clusters; the whole name for gateway-route and other clusters; nothing for a missing cluster.
// A name that is not a cluster name at all (parse rejects such records) is kept whole as the
// service.
func ClusterLabels(name []byte) (service, subset []byte) {
	if len(name) == 0 {
		return nil, nil
	}
	ref, err := parse.SplitCluster(name)
	if err != nil {
		return name, nil
	}
	switch ref.Kind {
	case parse.ClusterOutbound, parse.ClusterSNIDNAT:
		return ref.FQDN, ref.Subset
	case parse.ClusterInbound, parse.ClusterInboundVIP:
		if len(ref.FQDN) > 0 {
			return ref.FQDN, nil
		}
	case parse.ClusterGatewayRoute, parse.ClusterOther:
		return name, nil
	}
	if int(ref.Kind) < len(kindNames) {
		return kindNames[ref.Kind], nil
	}
	return name, nil
}

// DestinationService is the destination_service label of a record whose first cluster is
// primary: its service, or NoneService when there is no cluster.
func DestinationService(primary []byte) []byte {
	if len(primary) == 0 {
		return noneService
	}
	svc, _ := ClusterLabels(primary)
	return svc
}

// rawKey is what a record says about its series, borrowed from the record: the three cluster
// names, the route and the source, each cut to a bounded length, and the result and code class.
// Records with equal raw keys belong to the same series; different raw keys may too (another
// port of the same subset, values that repair to the same label), which the registry sorts out
// when an entry is created.
type rawKey struct {
	b      [4][]byte // kPrimary, kFallback, kFinal, kRoute
	ns, wl string
	result uint8
	code   uint8
}

const (
	kPrimary = iota
	kFallback
	kFinal
	kRoute
)

func mix(h, x uint64) uint64 {
	h ^= x
	h *= 0x9e3779b97f4a7c15
	return h ^ h>>29
}

func (k *rawKey) hash(seed maphash.Seed) uint64 {
	h := uint64(k.result)<<8 | uint64(k.code)
	for i := range k.b {
		h = mix(h, maphash.Bytes(seed, k.b[i]))
	}
	h = mix(h, maphash.String(seed, k.ns))
	h = mix(h, maphash.String(seed, k.wl))
	return h
}

// labels maps k to the label values of fallbackwatch_requests_total, in the order of
// requestLabelNames, valid UTF-8 and at most max bytes each.
func (k *rawKey) labels(max int) [11]string {
	var l [11]string
	dest, primary := ClusterLabels(k.b[kPrimary])
	if len(k.b[kPrimary]) == 0 {
		dest = noneService
	}
	fbService, fbSubset := ClusterLabels(k.b[kFallback])
	finService, finSubset := ClusterLabels(k.b[kFinal])
	for i, v := range [...][]byte{dest, primary, fbService, fbSubset, finService, finSubset} {
		l[i] = LabelValue(string(v), max)
	}
	l[6] = resultNames[k.result]
	l[7] = codeClassNames[k.code]
	l[8] = LabelValue(string(k.b[kRoute]), max)
	l[9] = LabelValue(strings.Clone(k.ns), max)
	l[10] = LabelValue(strings.Clone(k.wl), max)
	return l
}

// labelsHash hashes label values.
func labelsHash(seed maphash.Seed, l []string) uint64 {
	var h uint64
	for _, v := range l {
		h = mix(h, maphash.String(seed, v))
	}
	return h
}

// cutRaw cuts b to at most max bytes, backing off to what looks like a rune start so that a
// valid value is cut between runes.
func cutRaw(b []byte, max int) []byte {
	if len(b) <= max {
		return b
	}
	n := max
	for i := 0; i < utf8.UTFMax-1 && n > 0 && !utf8.RuneStart(b[n]); i++ {
		n--
	}
	return b[:n]
}

func cutRawString(s string, max int) string {
	if len(s) <= max {
		return s
	}
	n := max
	for i := 0; i < utf8.UTFMax-1 && n > 0 && !utf8.RuneStart(s[n]); i++ {
		n--
	}
	return s[:n]
}

// capLenString returns the longest prefix of the valid UTF-8 value s that is at most max bytes
// and ends on a rune boundary.
func capLenString(s string, max int) string {
	if len(s) <= max {
		return s
	}
	n := max
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// appendValid appends src to dst with every invalid byte sequence replaced by U+FFFD, stopping
// before dst would pass max bytes.
func appendValid(dst, src []byte, max int) []byte {
	for len(src) > 0 {
		r, n := utf8.DecodeRune(src)
		size := n
		if r == utf8.RuneError && n == 1 {
			size = utf8.RuneLen(utf8.RuneError)
		}
		if len(dst)+size > max {
			break
		}
		if size == n {
			dst = append(dst, src[:n]...)
		} else {
			dst = utf8.AppendRune(dst, utf8.RuneError)
		}
		src = src[n:]
	}
	return dst
}

// LabelValue returns s as fallbackwatch exports it: invalid UTF-8 replaced by U+FFFD and cut at
// a rune boundary to at most max bytes.
func LabelValue(s string, max int) string {
	if !utf8.ValidString(s) {
		s = string(appendValid(nil, []byte(s), max))
	}
	return capLenString(s, max)
}
