package e2e

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// The productpage sidecar of the guide calls reviews; these are its clusters (R1, R2).
const (
	reviewsFQDN = "reviews.default.svc.cluster.local"
	// podName and the container log name are what the kubelet writes for productpage's
	// istio-proxy, so records get source_namespace="default", source_workload="productpage-v1".
	podName     = "productpage-v1-5f9dbcd669-x2k7p"
	containerID = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
)

// reviewsPods are the guide's reviews pods, one per subset. Their sidecars log the requests they
// receive (server side, upstream_cluster inbound|9080||); the collector tails them beside
// productpage's and counts them by direction, never as routing decisions.
var reviewsPods = map[string]string{"v1": "reviews-v1-545db77b95-2ps7q", "v2": "reviews-v2-7bf8c9648f-7cf5d", "v3": "reviews-v3-84779c7bbc-4ktqn"}

var reviewsIPs = map[string]string{"v1": "172.16.0.9", "v2": "172.16.0.11", "v3": "172.16.0.13"}

func cluster(subset string) string { return "outbound|9080|" + subset + "|" + reviewsFQDN }

// outcome is what happened to one request, in the terms of the fallback rules.
type outcome struct {
	kind     outcomeKind
	primary  string // subset the route picked (R12)
	fallback string // its configured fallback target, for fallback outcomes
	code     int    // response code for direct requests
}

type outcomeKind int

const (
	direct         outcomeKind = iota // R14: no fallback metadata
	fellBack                          // R15: fallback successful
	fallbackFailed                    // R16: 503 UH, fallback cluster is unhealthy
)

// result is the value of the result label the collector gives the outcome.
func (o outcome) result() string {
	switch o.kind {
	case fellBack:
		return "success"
	case fallbackFailed:
		return "failed"
	}
	return "none"
}

// finalSubset is the subset that served the request; empty for a failed fallback.
func (o outcome) finalSubset() string {
	switch o.kind {
	case fellBack:
		return o.fallback
	case fallbackFailed:
		return ""
	}
	return o.primary
}

// seedKeys is the key order of the guide's custom access-log format.
var seedKeys = []string{"authority", "authority_for", "bytes_received", "bytes_sent", "downstream_local_address",
	"downstream_remote_address", "duration", "fallback_path", "fallback_final_cluster_name", "fallback_result",
	"istio_policy_status", "method", "path", "protocol", "request_id", "requested_server_name", "response_code",
	"response_flags", "route_name", "start_time", "trace_id", "upstream_cluster", "upstream_host",
	"upstream_local_address", "upstream_service_time", "upstream_transport_failure_reason", "user_agent",
	"x_forwarded_for"}

// renderRecord writes the access-log record of o as productpage's sidecar logs it at `at`,
// modelled on the guide's two records (testdata/logs/seed-*.json). seq makes ids unique.
func renderRecord(o outcome, at time.Time, seq int) []byte {
	v := map[string]string{
		"authority": "reviews:9080", "authority_for": "reviews:9080", "bytes_received": "0",
		"downstream_local_address":  "192.168.255.46:9080",
		"downstream_remote_address": "172.16.0.252:" + strconv.Itoa(40000+seq%20000),
		"fallback_path":             "-", "fallback_final_cluster_name": "-", "fallback_result": "-",
		"istio_policy_status": "-", "method": "GET", "path": "/reviews/" + strconv.Itoa(seq%7),
		"protocol": "HTTP/1.1", "request_id": fmt.Sprintf("e2e0%04x-5f3f-4060-b9fa-%012x", seq%0xffff, seq),
		"requested_server_name": "-", "response_flags": "-", "route_name": "-",
		"start_time": at.UTC().Format("2006-01-02T15:04:05.000Z"), "trace_id": fmt.Sprintf("%016x", seq),
		"upstream_local_address": "172.16.0.252:44448", "upstream_transport_failure_reason": "-",
		"user_agent":      "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/113.0.X.X Safari/537.36",
		"x_forwarded_for": "-",
	}
	host := map[string]string{"v1": "172.16.0.9:9080", "v2": "172.16.0.11:9080", "v3": "172.16.0.13:9080"}
	switch o.kind {
	case direct:
		v["upstream_cluster"], v["upstream_host"] = cluster(o.primary), host[o.primary]
		v["response_code"], v["bytes_sent"], v["duration"], v["upstream_service_time"] = strconv.Itoa(o.code), "442", "10", "9"
		if o.code >= 500 {
			v["bytes_sent"] = "27" // the application's own error: no flags, no fallback
		}
	case fellBack:
		v["fallback_path"] = cluster(o.primary) + ":" + cluster(o.fallback)
		v["fallback_final_cluster_name"], v["fallback_result"] = cluster(o.fallback), "fallback successful"
		v["upstream_cluster"], v["upstream_host"] = cluster(o.fallback), host[o.fallback]
		v["response_code"], v["bytes_sent"], v["duration"], v["upstream_service_time"] = "200", "442", "10", "9"
	case fallbackFailed:
		v["fallback_path"] = cluster(o.primary) + ":" + cluster(o.fallback)
		v["fallback_result"] = "fallback cluster is unhealthy"
		v["upstream_cluster"], v["upstream_host"], v["upstream_local_address"] = cluster(o.primary), "-", "-"
		v["response_code"], v["response_flags"], v["bytes_sent"], v["duration"], v["upstream_service_time"] = "503", "UH", "19", "0", "-"
	}
	return encodeRecord(v)
}

// encodeRecord writes v as one JSON object with the keys of the guide's format in its order.
func encodeRecord(v map[string]string) []byte {
	b := []byte{'{'}
	for i, k := range seedKeys {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendQuote(b, k)
		b = append(b, ':')
		s, err := json.Marshal(v[k])
		if err != nil {
			panic(err) // strings always marshal
		}
		b = append(b, s...)
	}
	return append(b, '}')
}

// renderServerRecord writes the record the sidecar of the reviews pod that served o logs for it:
// the same request seen from the receiving side, in the mesh's access-log format. A request
// nobody served (R16) has none.
func renderServerRecord(o outcome, at time.Time, seq int) []byte {
	sub := o.finalSubset()
	ip := reviewsIPs[sub]
	code := "200"
	if o.kind == direct {
		code = strconv.Itoa(o.code)
	}
	v := map[string]string{
		"authority": "reviews:9080", "authority_for": "reviews:9080", "bytes_received": "0", "bytes_sent": "442",
		"downstream_local_address":  ip + ":9080",
		"downstream_remote_address": "172.16.0.252:44448", "duration": "8",
		"fallback_path": "-", "fallback_final_cluster_name": "-", "fallback_result": "-",
		"istio_policy_status": "-", "method": "GET", "path": "/reviews/" + strconv.Itoa(seq%7),
		"protocol": "HTTP/1.1", "request_id": fmt.Sprintf("e2e0%04x-5f3f-4060-b9fa-%012x", seq%0xffff, seq),
		"requested_server_name": "outbound_.9080_." + sub + "_." + reviewsFQDN, "response_code": code,
		"response_flags": "-", "route_name": "default",
		"start_time": at.UTC().Format("2006-01-02T15:04:05.000Z"), "trace_id": fmt.Sprintf("%016x", seq),
		"upstream_cluster": "inbound|9080||", "upstream_host": ip + ":9080",
		"upstream_local_address": "127.0.0.6:51234", "upstream_service_time": "7", "upstream_transport_failure_reason": "-",
		"user_agent":      "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/113.0.X.X Safari/537.36",
		"x_forwarded_for": "-",
	}
	return encodeRecord(v)
}

// envoyText is a line of Envoy's own text log, interleaved with the access log in the same
// container output; the collector skips it (not_json).
func envoyText(at time.Time, msg string) []byte {
	return []byte(at.UTC().Format("2006-01-02T15:04:05.000000Z") + "\twarning\tenvoy config\t" + msg)
}

// truncatedRecord is a record cut short, as a sidecar killed mid-write leaves it; the collector
// rejects it (truncated).
func truncatedRecord(at time.Time) []byte {
	r := renderRecord(outcome{kind: direct, primary: "v3", code: 200}, at, 0)
	return r[:len(r)/2]
}

// criLine frames a line as containerd writes it to /var/log/pods/.../istio-proxy/0.log.
func criLine(at time.Time, line []byte) []byte {
	b := make([]byte, 0, len(line)+48)
	b = at.UTC().AppendFormat(b, "2006-01-02T15:04:05.000000000Z")
	b = append(b, " stdout F "...)
	b = append(b, line...)
	return append(b, '\n')
}

// fluentBitEnvelope wraps a line as Fluent Bit's Kafka output does with its kubernetes filter.
func fluentBitEnvelope(at time.Time, pod string, line []byte) []byte {
	b, err := json.Marshal(map[string]any{
		"log":    string(line) + "\n",
		"stream": "stdout",
		"time":   at.UTC().Format(time.RFC3339Nano),
		"kubernetes": map[string]string{
			"namespace_name": "default", "pod_name": pod, "container_name": "istio-proxy",
		},
	})
	if err != nil {
		panic(err) // strings always marshal
	}
	return b
}
