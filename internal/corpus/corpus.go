// Package corpus writes deterministic, realistic istio-proxy JSON access logs with ASM's fallback
// fields, for benchmarks, tests and the shipped sample files.
//
// The model is the two example records of ASM's fallback-routing guide (a successful fallback of
// reviews v3 to v2, and a failed one with 503 UH). The Mixed scenario is a mesh of eight services
// whose every (service, subset) cluster follows a health timeline over log time, drawn from the
// seed: healthy most of the time, with outages of tens of seconds to minutes, some of which take
// a subset and its fallback target down together. Each record picks its destination at random by
// weight, and its outcome follows from the health at its start_time (R14–R17): about 80% of the
// records carry no fallback, 15% a successful fallback and 5% a failed one (503 UH, "fallback
// cluster is unhealthy"); records of healthy clusters carry the application's own errors and
// flags now and then (4xx/5xx, UF, UT, URX, UC, DC), never UH, which only a down cluster without
// fallback returns. Services, key order, typed versus untyped numbers and ids vary; about 1% of
// the records contain JSON escapes. The Bookinfo scenario tells the guide's story for
// productpage's sidecar, phase by phase, consistent with testdata/bookinfo (DestinationRule
// reviews with subsets v1..v3; sample1: 100% v3 falling back to v2; sample2: 50% v3→v2, 50%
// v2→v1).
//
// The same Options and n always produce the same bytes.
package corpus

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"time"
)

// Format is the framing of the written lines.
type Format uint8

const (
	Raw    Format = iota // one JSON object per line, as `kubectl logs` prints
	CRI                  // containerd/CRI-O: <RFC 3339 nano> stdout <P|F> <line>
	Docker               // docker json-file: {"log":"<line>\n","stream":"stdout","time":"..."}
)

// Scenario selects what the records tell.
type Scenario uint8

const (
	// Mixed is a mesh of many services whose clusters have outages over time: 80% of the
	// records without fallback, 15% with a successful and 5% with a failed fallback.
	Mixed Scenario = iota
	// Bookinfo is the guide's story in productpage's sidecar: see the package comment.
	Bookinfo
)

// Options control Generate. The zero value is a valid Mixed raw corpus.
type Options struct {
	Seed     uint64
	Format   Format
	Scenario Scenario
	// Start is the start_time of the first record; zero means 2023-05-30T07:00:00Z.
	Start time.Time
	// Rate is records per second of log time; zero means 200. The Mixed health timelines are in
	// log time and depend on Seed and Start only.
	Rate float64
	// EscapeRate is the share of records holding JSON escapes; negative means none, zero 1%.
	EscapeRate float64
	// EnvoyTextRate is the share of lines that are Envoy's own text log (not records); zero means
	// none in Mixed and a few at phase changes in Bookinfo.
	EnvoyTextRate float64
	// CRISplit, for the CRI format, splits lines longer than this many bytes into P fragments
	// followed by an F fragment, as containerd does at 16 KiB. Zero never splits.
	CRISplit int
}

func (o *Options) defaults() {
	if o.Start.IsZero() {
		o.Start = time.Date(2023, 5, 30, 7, 0, 0, 0, time.UTC)
	}
	if o.Rate <= 0 {
		o.Rate = 200
	}
	if o.EscapeRate == 0 {
		o.EscapeRate = 0.01
	}
}

// SeedSuccess and SeedFailed are the guide's two example records, minified to one line each.
const (
	SeedSuccess = `{"authority":"reviews:9080","authority_for":"reviews:9080","bytes_received":"0","bytes_sent":"442","downstream_local_address":"192.168.255.46:9080","downstream_remote_address":"172.16.0.252:57238","duration":"10","fallback_path":"outbound|9080|v3|reviews.default.svc.cluster.local:outbound|9080|v2|reviews.default.svc.cluster.local","fallback_final_cluster_name":"outbound|9080|v2|reviews.default.svc.cluster.local","fallback_result":"fallback successful","istio_policy_status":"-","method":"GET","path":"/reviews/0","protocol":"HTTP/1.1","request_id":"15b2dffc-5f3f-4060-b9fa-898eab08****","requested_server_name":"-","response_code":"200","response_flags":"-","route_name":"-","start_time":"2023-05-30T07:02:26.990Z","trace_id":"18b3aed8af41****","upstream_cluster":"outbound|9080|v2|reviews.default.svc.cluster.local","upstream_host":"172.16.0.11:9080","upstream_local_address":"172.16.0.252:44448","upstream_service_time":"9","upstream_transport_failure_reason":"-","user_agent":"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/113.0.X.X Safari/537.36","x_forwarded_for":"-"}`
	SeedFailed  = `{"authority":"reviews:9080","authority_for":"reviews:9080","bytes_received":"0","bytes_sent":"19","downstream_local_address":"192.168.255.46:9080","downstream_remote_address":"172.16.0.252:47738","duration":"0","fallback_path":"outbound|9080|v3|reviews.default.svc.cluster.local:outbound|9080|v2|reviews.default.svc.cluster.local","fallback_final_cluster_name":"-","fallback_result":"fallback cluster is unhealthy","istio_policy_status":"-","method":"GET","path":"/reviews/0","protocol":"HTTP/1.1","request_id":"b207a764-b6d7-4ef8-bc71-59f264c3****","requested_server_name":"-","response_code":"503","response_flags":"UH","route_name":"-","start_time":"2023-05-30T07:32:08.999Z","trace_id":"a40c32a7b2cf****","upstream_cluster":"outbound|9080|v3|reviews.default.svc.cluster.local","upstream_host":"-","upstream_local_address":"-","upstream_service_time":"-","upstream_transport_failure_reason":"-","user_agent":"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/113.0.X.X Safari/537.36","x_forwarded_for":"-"}`
)

// Generate writes n lines to w. With EnvoyTextRate > 0 or the Bookinfo scenario some of the n
// lines are Envoy text log lines; with CRISplit a record may take several lines, counted once.
func Generate(w io.Writer, n int, opts Options) error {
	opts.defaults()
	g := newGen(opts)
	bw := bufio.NewWriterSize(w, 256<<10)
	for i := 0; i < n; i++ {
		line := g.next(i, n)
		if err := g.frame(bw, line); err != nil {
			return fmt.Errorf("write corpus line %d: %w", i+1, err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write corpus: %w", err)
	}
	return nil
}

// Lines returns n generated lines (without newline) in memory, framed per opts.Format.
func Lines(n int, opts Options) [][]byte {
	var buf bytes.Buffer
	if err := Generate(&buf, n, opts); err != nil {
		panic(err) // writing to a bytes.Buffer cannot fail
	}
	lines := bytes.Split(bytes.TrimSuffix(buf.Bytes(), []byte("\n")), []byte("\n"))
	return lines
}

type gen struct {
	o        Options
	rng      *rand.Rand
	t        time.Time
	line     []byte
	proxies  []proxy
	seedsOut [2]bool
	health   *schedule // Mixed: every cluster's health over log time
}

// proxy is one sidecar's access-log configuration: key order and number typing.
type proxy struct {
	keys  []string
	typed bool
	local string // downstream_local_address / pod IP
}

// seedKeys is the guide's key order (and key set).
var seedKeys = []string{"authority", "authority_for", "bytes_received", "bytes_sent", "downstream_local_address",
	"downstream_remote_address", "duration", "fallback_path", "fallback_final_cluster_name", "fallback_result",
	"istio_policy_status", "method", "path", "protocol", "request_id", "requested_server_name", "response_code",
	"response_flags", "route_name", "start_time", "trace_id", "upstream_cluster", "upstream_host",
	"upstream_local_address", "upstream_service_time", "upstream_transport_failure_reason", "user_agent",
	"x_forwarded_for"}

// istioKeys is Istio's EnvoyJSONLogFormatIstio order with ASM's three fallback keys appended.
var istioKeys = []string{"start_time", "route_name", "method", "path", "protocol", "response_code",
	"response_flags", "response_code_details", "connection_termination_details",
	"upstream_transport_failure_reason", "bytes_received", "bytes_sent", "duration", "upstream_service_time",
	"x_forwarded_for", "user_agent", "request_id", "authority", "upstream_host", "upstream_cluster",
	"upstream_local_address", "downstream_local_address", "downstream_remote_address",
	"requested_server_name", "fallback_path", "fallback_final_cluster_name", "fallback_result"}

var numericKeys = map[string]bool{"bytes_received": true, "bytes_sent": true, "duration": true,
	"response_code": true, "upstream_service_time": true}

func newGen(o Options) *gen {
	g := &gen{o: o, rng: rand.New(rand.NewPCG(o.Seed, 0x5eed)), t: o.Start}
	if o.Scenario == Bookinfo {
		g.proxies = []proxy{{keys: seedKeys, local: "192.168.255.46"}}
		return g
	}
	g.health = newSchedule(o.Seed, o.Start)
	for i := 0; i < 24; i++ {
		p := proxy{keys: seedKeys, typed: i%3 == 2, local: fmt.Sprintf("192.168.%d.%d", 100+i/8, 10+i)}
		if i%2 == 1 {
			p.keys = istioKeys
		}
		if i%8 == 7 { // a proxy whose format lists the keys in its own order
			p.keys = append([]string(nil), p.keys...)
			g.rng.Shuffle(len(p.keys), func(a, b int) { p.keys[a], p.keys[b] = p.keys[b], p.keys[a] })
		}
		g.proxies = append(g.proxies, p)
	}
	return g
}

// rec is the content of one record before encoding.
type rec struct {
	start         time.Time
	authority     string
	method, path  string
	code          int
	flags         string
	details       string
	bytesIn       int
	bytesOut      int
	duration      int
	svcTime       int // -1 for "-"
	fbPath        string
	fbFinal       string
	fbResult      string
	upstream      string
	upstreamHost  string
	upstreamLocal string
	remote        string
	requestID     string
	traceID       string
	userAgent     string // already JSON-encoded content
	routeName     string
	escapedPath   string // non-empty: JSON-encoded path content to use instead of path
	xff           string
}

type service struct {
	name, ns string
	port     int
	subsets  []string
	fallback map[string]string // subset -> fallback subset
	paths    []string
	route    string
}

var services = []service{
	{"reviews", "default", 9080, []string{"v1", "v2", "v3"}, map[string]string{"v3": "v2", "v2": "v1"}, []string{"/reviews/0", "/reviews/1", "/reviews/2"}, "-"},
	{"ratings", "default", 9080, []string{"v1", "v2"}, map[string]string{"v2": "v1"}, []string{"/ratings/0", "/ratings/1"}, "-"},
	{"details", "default", 9080, []string{"v1"}, nil, []string{"/details/0", "/details/1"}, "default"},
	{"cart", "shop", 8080, []string{"stable", "canary"}, map[string]string{"canary": "stable"}, []string{"/api/v1/cart", "/api/v1/cart/items", "/api/v1/cart/checkout"}, "cart-route"},
	{"checkout", "shop", 8080, []string{"v1", "v2"}, map[string]string{"v2": "v1", "v1": "v2"}, []string{"/api/v1/checkout", "/api/v1/checkout/confirm"}, "checkout-route.primary"},
	{"payments", "payments", 8443, []string{"blue", "green"}, map[string]string{"green": "blue", "blue": "green"}, []string{"/v2/payments", "/v2/payments/authorize", "/v2/refunds"}, "payments"},
	{"inventory", "shop", 9090, []string{"v1", "v2", "v3"}, map[string]string{"v3": "v2", "v2": "v1"}, []string{"/inventory/sku/12345", "/inventory/reserve"}, "-"},
	{"search", "catalog", 8080, []string{"zone-a", "zone-b"}, map[string]string{"zone-a": "zone-b", "zone-b": "zone-a"}, []string{"/search?q=shoes&page=2", "/search?q=red+dress"}, "search-by-zone"},
}

func cluster(s *service, subset string) string {
	return "outbound|" + strconv.Itoa(s.port) + "|" + subset + "|" + s.name + "." + s.ns + ".svc.cluster.local"
}

var userAgents = []string{
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/113.0.X.X Safari/537.36",
	"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 16_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.5 Mobile/15E148 Safari/604.1",
	"curl/8.1.2",
	"Go-http-client/1.1",
	"python-requests/2.31.0",
	"Envoy/HC",
}

// escapedUserAgents and escapedPaths are JSON-encoded contents that need unescaping.
var escapedUserAgents = []string{
	`Mozilla/5.0 (compatible; \"fallback-probe\"; +https:\/\/example.com\/bot)`,
	`Mozilla/5.0 (Windows NT 10.0; Win64; x64) \u0041ppleWebKit/537.36 (KHTML, like Gecko) caf\u00e9-client\/1.0`,
	`load-test\t\"run 42\"\\shard-7 \ud83d\ude80`,
}
var escapedPaths = []string{
	`/search?q=caf\u00e9&lang=fr`,
	`/api/v1/cart?note=\"gift\"`,
	`\/reviews\/0`,
	`/emoji/\ud83d\ude00`,
}

func (g *gen) hex(n int) string {
	const digits = "0123456789abcdef"
	b := make([]byte, n)
	for i := range b {
		b[i] = digits[g.rng.IntN(16)]
	}
	return string(b)
}

func (g *gen) uuid() string {
	return g.hex(8) + "-" + g.hex(4) + "-4" + g.hex(3) + "-" + string("89ab"[g.rng.IntN(4)]) + g.hex(3) + "-" + g.hex(12)
}

func (g *gen) ip() string {
	return fmt.Sprintf("172.16.%d.%d", g.rng.IntN(4), 2+g.rng.IntN(250))
}

func (g *gen) advance() {
	// exponential inter-arrival times at the configured rate
	gap := g.rng.ExpFloat64() / g.o.Rate
	g.t = g.t.Add(time.Duration(gap * float64(time.Second)))
}

// next returns the i-th of n lines, unframed.
func (g *gen) next(i, n int) []byte {
	if g.o.Scenario == Bookinfo {
		return g.bookinfo(i, n)
	}
	g.advance()
	if g.o.EnvoyTextRate > 0 && g.rng.Float64() < g.o.EnvoyTextRate {
		return g.envoyText(g.t)
	}
	p := &g.proxies[g.rng.IntN(len(g.proxies))]
	si := g.rng.IntN(len(services))
	s := &services[si]
	r := g.base(s)
	primary := s.subsets[g.rng.IntN(len(s.subsets))] // the weighted pick ignores health (R12)
	fb := s.fallback[primary]
	switch {
	case !g.health.down(si, primary, g.t): // R14
		g.served(&r, s, primary)
		g.outcome(&r)
	case fb == "": // R14: down, nothing to fall back to
		g.unhealthy(&r, s, primary)
	case !g.health.down(si, fb, g.t): // R15
		g.served(&r, s, fb)
		r.fbPath = cluster(s, primary) + ":" + cluster(s, fb)
		r.fbFinal = cluster(s, fb)
		r.fbResult = "fallback successful"
		if g.rng.IntN(20) == 0 { // the fallback target may fail on its own
			r.code, r.flags, r.details = 503, "UF,URX", "upstream_reset_before_response_started{connection_failure}"
			r.bytesOut, r.svcTime = 91, -1
		}
	default: // R16, R17: the target's own fallback is not consulted
		g.failed(&r, s, primary, fb)
	}
	return g.encode(p, &r)
}

func (g *gen) base(s *service) rec {
	r := rec{
		start:     g.t,
		authority: s.name + ":" + strconv.Itoa(s.port),
		method:    "GET",
		path:      s.paths[g.rng.IntN(len(s.paths))],
		code:      200,
		flags:     "-",
		details:   "via_upstream",
		remote:    g.ip() + ":" + strconv.Itoa(30000+g.rng.IntN(30000)),
		requestID: g.uuid(),
		traceID:   g.hex(16),
		userAgent: userAgents[g.rng.IntN(3)],
		routeName: s.route,
	}
	if g.rng.IntN(5) == 0 {
		r.userAgent = userAgents[g.rng.IntN(len(userAgents))]
	}
	if g.rng.IntN(5) != 0 {
		r.path += "?session=" + g.hex(32) + "&locale=en-US&trace=" + g.hex(8)
	}
	if g.rng.IntN(4) != 0 {
		r.xff = "203.0.113." + strconv.Itoa(1+g.rng.IntN(254)) + "," + g.ip()
	}
	if g.rng.IntN(5) == 0 {
		r.method = "POST"
		r.bytesIn = 20 + g.rng.IntN(2000)
	}
	if g.o.EscapeRate > 0 && g.rng.Float64() < g.o.EscapeRate {
		if g.rng.IntN(2) == 0 {
			r.userAgent = escapedUserAgents[g.rng.IntN(len(escapedUserAgents))]
		} else {
			r.escapedPath = escapedPaths[g.rng.IntN(len(escapedPaths))]
		}
	}
	return r
}

func (g *gen) served(r *rec, s *service, subset string) {
	r.upstream = cluster(s, subset)
	r.upstreamHost = g.ip() + ":" + strconv.Itoa(s.port)
	r.upstreamLocal = g.ip() + ":" + strconv.Itoa(30000+g.rng.IntN(30000))
	r.duration = 1 + int(g.rng.ExpFloat64()*12)
	r.svcTime = max(0, r.duration-1-g.rng.IntN(2))
	r.bytesOut = 150 + g.rng.IntN(3000)
}

// outcome gives a record of a healthy cluster, without fallback, an occasional error of its own:
// the application's 4xx/5xx, a reset connection (UF), a timeout (UT) or exhausted retries (URX).
// Never UH: the cluster has healthy endpoints.
func (g *gen) outcome(r *rec) {
	switch x := g.rng.IntN(1000); {
	case x < 20:
		r.code, r.flags, r.details = 404, "-", "via_upstream"
	case x < 35:
		r.code, r.flags, r.details = 500, "-", "via_upstream"
	case x < 40:
		r.code, r.flags, r.details = 502, "-", "via_upstream"
	case x < 45:
		r.code, r.flags, r.details = 503, "URX", "via_upstream"
	case x < 55:
		r.code, r.flags, r.details = 503, "UF,URX", "upstream_reset_before_response_started{connection_failure}"
		r.bytesOut, r.svcTime = 91, -1
	case x < 58:
		r.code, r.flags, r.details = 503, "UC", "upstream_reset_before_response_started{connection_termination}"
		r.bytesOut, r.svcTime = 95, -1
	case x < 68:
		r.code, r.flags, r.details = 504, "UT", "response_timeout"
		r.bytesOut, r.svcTime, r.duration = 24, -1, 15000
	case x < 78:
		r.code, r.flags, r.details = 0, "DC", "downstream_remote_disconnect"
		r.bytesOut, r.svcTime = 0, -1
	}
}

func (g *gen) unhealthy(r *rec, s *service, subset string) {
	r.code, r.flags, r.details = 503, "UH", "no_healthy_upstream"
	r.upstream = cluster(s, subset)
	r.bytesOut, r.duration, r.svcTime = 19, 0, -1
}

func (g *gen) failed(r *rec, s *service, primary, fb string) {
	r.code, r.flags, r.details = 503, "UH", "no_healthy_upstream"
	r.upstream = cluster(s, primary)
	r.fbPath = cluster(s, primary) + ":" + cluster(s, fb)
	r.fbResult = "fallback cluster is unhealthy"
	r.bytesOut, r.duration, r.svcTime = 19, 0, -1
}

// encode writes r as one JSON object in p's key order.
func (g *gen) encode(p *proxy, r *rec) []byte {
	b := g.line[:0]
	b = append(b, '{')
	for i, k := range p.keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, k...)
		b = append(b, '"', ':')
		b = g.value(b, p, k, r)
	}
	b = append(b, '}')
	g.line = b
	return b
}

func str(b []byte, s string) []byte {
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

func num(b []byte, p *proxy, n int, missing bool) []byte {
	switch {
	case missing && p.typed:
		return append(b, "null"...)
	case missing:
		return append(b, `"-"`...)
	case p.typed:
		return strconv.AppendInt(b, int64(n), 10)
	}
	b = append(b, '"')
	b = strconv.AppendInt(b, int64(n), 10)
	return append(b, '"')
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func (g *gen) value(b []byte, p *proxy, k string, r *rec) []byte {
	switch k {
	case "authority", "authority_for":
		return str(b, r.authority)
	case "bytes_received":
		return num(b, p, r.bytesIn, false)
	case "bytes_sent":
		return num(b, p, r.bytesOut, false)
	case "downstream_local_address":
		return str(b, p.local+":"+strconv.Itoa(portOf(r.authority)))
	case "downstream_remote_address":
		return str(b, r.remote)
	case "duration":
		return num(b, p, r.duration, false)
	case "fallback_path":
		return str(b, orDash(r.fbPath))
	case "fallback_final_cluster_name":
		return str(b, orDash(r.fbFinal))
	case "fallback_result":
		return str(b, orDash(r.fbResult))
	case "method":
		return str(b, r.method)
	case "path":
		if r.escapedPath != "" {
			return str(b, r.escapedPath)
		}
		return str(b, r.path)
	case "protocol":
		return str(b, "HTTP/1.1")
	case "request_id":
		return str(b, r.requestID)
	case "response_code":
		return num(b, p, r.code, false)
	case "response_flags":
		return str(b, r.flags)
	case "response_code_details":
		return str(b, r.details)
	case "route_name":
		return str(b, r.routeName)
	case "start_time":
		return str(b, r.start.UTC().Format("2006-01-02T15:04:05.000Z"))
	case "trace_id":
		return str(b, r.traceID)
	case "upstream_cluster":
		return str(b, r.upstream)
	case "upstream_host":
		return str(b, orDash(r.upstreamHost))
	case "upstream_local_address":
		return str(b, orDash(r.upstreamLocal))
	case "upstream_service_time":
		return num(b, p, r.svcTime, r.svcTime < 0)
	case "user_agent":
		return str(b, r.userAgent)
	case "x_forwarded_for":
		return str(b, orDash(r.xff))
	}
	return str(b, "-") // istio_policy_status, x_forwarded_for, requested_server_name, ...
}

func portOf(authority string) int {
	for i := len(authority) - 1; i >= 0; i-- {
		if authority[i] == ':' {
			n, _ := strconv.Atoi(authority[i+1:])
			return n
		}
	}
	return 80
}

var envoyTexts = []string{
	"info\txdsproxy\tconnected to upstream XDS server: istiod.istio-system.svc:15012",
	"warning\tenvoy config\tStreamAggregatedResources gRPC config stream to xds-grpc closed since 1803s ago: 13, ",
	"info\tads\tADS: new connection for node:sidecar~192.168.255.46~productpage-v1-5f9dbcd669-x2k7p.default~default.svc.cluster.local-1",
	"info\tcache\tgenerated new workload certificate\tlatency=118.234ms ttl=23h59m59.765s",
	"warn\tenvoy main\tthere is no configured limit to the number of allowed active connections. Set a limit via the runtime key overload.global_downstream_max_connections",
}

func (g *gen) envoyText(t time.Time) []byte {
	s := t.UTC().Format("2006-01-02T15:04:05.000000Z") + "\t" + envoyTexts[g.rng.IntN(len(envoyTexts))]
	g.line = append(g.line[:0], s...)
	return g.line
}

// frame writes one line in the configured format.
func (g *gen) frame(w *bufio.Writer, line []byte) error {
	ts := g.t.Add(time.Duration(g.rng.IntN(1000000)) * time.Nanosecond).UTC().Format("2006-01-02T15:04:05.000000000Z")
	switch g.o.Format {
	case CRI:
		for g.o.CRISplit > 0 && len(line) > g.o.CRISplit {
			fmt.Fprintf(w, "%s stdout P %s\n", ts, line[:g.o.CRISplit])
			line = line[g.o.CRISplit:]
		}
		fmt.Fprintf(w, "%s stdout F %s\n", ts, line)
	case Docker:
		enc, err := json.Marshal(string(line) + "\n")
		if err != nil {
			return err
		}
		fmt.Fprintf(w, `{"log":%s,"stream":"stdout","time":"%s"}`+"\n", enc, ts)
	default:
		w.Write(line)
		w.WriteByte('\n')
	}
	return nil
}

// phase is one stretch of the Bookinfo story.
type phase struct {
	from, to time.Duration // after 07:00:00 on the guide's day
	share    float64       // of the lines
	note     string        // Envoy text line at the start of the phase
	pick     func(g *gen, r *rec)
}

var bookinfoDay = time.Date(2023, 5, 30, 7, 0, 0, 0, time.UTC)

var reviews = &services[0]

var reviewsHost = map[string]string{"v1": "172.16.0.9:9080", "v2": "172.16.0.11:9080", "v3": "172.16.0.13:9080"}

var bookinfoPhases = []phase{
	// reviews-route-fallback-sample1: 100% v3, fallback v2; all healthy.
	{0, 2 * time.Minute, 0.10, "info\tads\tADS: new connection for node:sidecar~172.16.0.252~productpage-v1-5f9dbcd669-x2k7p.default~default.svc.cluster.local-1",
		func(g *gen, r *rec) { g.bookinfoServed(r, "v3") }},
	// kubectl scale deployment reviews-v3 --replicas=0: every request falls back to v2 (R15).
	{2 * time.Minute, 10 * time.Minute, 0.25, "warning\tenvoy upstream\tcluster outbound|9080|v3|reviews.default.svc.cluster.local has no healthy hosts",
		func(g *gen, r *rec) { g.bookinfoFallback(r, "v3", "v2") }},
	// reviews-route-fallback-sample2 with v3 restored: 50% v3 (→v2), 50% v2 (→v1).
	{20 * time.Minute, 25 * time.Minute, 0.15, "info\tads\tADS: push for reviews-route: 1 resources updated",
		func(g *gen, r *rec) {
			if g.rng.IntN(2) == 0 {
				g.bookinfoServed(r, "v3")
			} else {
				g.bookinfoServed(r, "v2")
			}
		}},
	// v3 down: v3's half falls back to v2, v2's half goes to v2 directly.
	{25 * time.Minute, 30 * time.Minute, 0.20, "warning\tenvoy upstream\tcluster outbound|9080|v3|reviews.default.svc.cluster.local has no healthy hosts",
		func(g *gen, r *rec) {
			if g.rng.IntN(2) == 0 {
				g.bookinfoFallback(r, "v3", "v2")
			} else {
				g.bookinfoServed(r, "v2")
			}
		}},
	// v3 and v2 down: v2's half falls back to v1; v3's half fails with 503 UH, one hop only (R16, R17).
	{30 * time.Minute, 35 * time.Minute, 0.30, "warning\tenvoy upstream\tcluster outbound|9080|v2|reviews.default.svc.cluster.local has no healthy hosts",
		func(g *gen, r *rec) {
			if g.rng.IntN(2) == 0 {
				g.bookinfoFallback(r, "v2", "v1")
			} else {
				g.failed(r, reviews, "v3", "v2")
			}
		}},
}

// bookinfoPlan maps a line index to its phase and its position inside it.
func bookinfoPlan(i, n int) (ph int, k, count int) {
	start := 0
	for p := range bookinfoPhases {
		c := int(bookinfoPhases[p].share*float64(n) + 0.5)
		if p == len(bookinfoPhases)-1 {
			c = n - start
		}
		if i < start+c {
			return p, i - start, c
		}
		start += c
	}
	return len(bookinfoPhases) - 1, 0, 1
}

var seedTimes = [2]time.Time{
	time.Date(2023, 5, 30, 7, 2, 26, 990e6, time.UTC),
	time.Date(2023, 5, 30, 7, 32, 8, 999e6, time.UTC),
}

func (g *gen) bookinfo(i, n int) []byte {
	pi, k, count := bookinfoPlan(i, n)
	ph := &bookinfoPhases[pi]
	day := g.o.Start.Sub(bookinfoDay) // shift the story to Options.Start
	step := (ph.to - ph.from) / time.Duration(count)
	jitter := time.Duration(g.rng.Int64N(int64(step)/2+1)) / time.Millisecond * time.Millisecond
	g.t = bookinfoDay.Add(day + ph.from + time.Duration(k)*step + jitter)
	if k == 0 {
		return g.envoyText2(g.t, ph.note)
	}
	for s, seed := range [2]string{SeedSuccess, SeedFailed} {
		want := [2]int{1, 4}[s]
		if pi == want && !g.seedsOut[s] && day == 0 && (!g.t.Before(seedTimes[s]) || k == count-1) {
			g.seedsOut[s] = true
			g.t = seedTimes[s]
			g.line = append(g.line[:0], seed...)
			return g.line
		}
	}
	r := rec{
		start:     g.t,
		authority: "reviews:9080",
		method:    "GET",
		path:      "/reviews/0",
		code:      200,
		flags:     "-",
		details:   "via_upstream",
		remote:    "172.16.0.252:" + strconv.Itoa(32768+g.rng.IntN(28000)),
		requestID: g.uuid(),
		traceID:   g.hex(16),
		userAgent: userAgents[0],
		routeName: "-",
	}
	if g.rng.IntN(4) == 0 {
		r.userAgent = userAgents[1+g.rng.IntN(2)]
	}
	if g.o.EscapeRate > 0 && g.rng.Float64() < g.o.EscapeRate {
		r.userAgent = escapedUserAgents[g.rng.IntN(len(escapedUserAgents))]
	}
	ph.pick(g, &r)
	return g.encode(&g.proxies[0], &r)
}

func (g *gen) bookinfoServed(r *rec, subset string) {
	r.upstream = cluster(reviews, subset)
	r.upstreamHost = reviewsHost[subset]
	r.upstreamLocal = "172.16.0.252:" + strconv.Itoa(40000+g.rng.IntN(20000))
	r.duration = 2 + int(g.rng.ExpFloat64()*8)
	r.svcTime = max(0, r.duration-1)
	r.bytesOut = map[string]int{"v1": 295, "v2": 442, "v3": 438}[subset]
}

func (g *gen) bookinfoFallback(r *rec, from, to string) {
	g.bookinfoServed(r, to)
	r.fbPath = cluster(reviews, from) + ":" + cluster(reviews, to)
	r.fbFinal = cluster(reviews, to)
	r.fbResult = "fallback successful"
}

func (g *gen) envoyText2(t time.Time, text string) []byte {
	s := t.UTC().Format("2006-01-02T15:04:05.000000Z") + "\t" + text
	g.line = append(g.line[:0], s...)
	return g.line
}
