package parse

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/fallbackwatch/fallbackwatch/internal/corpus"
)

// view is a Record with owned values, for comparisons; "<nil>" marks a missing value.
type view struct {
	FallbackPath, FallbackFinal, FallbackResult, UpstreamCluster, ResponseFlags, RouteName string
	Authority, Method, Path, StartTime, UpstreamHost, RequestID                            string
	ResponseCode                                                                           int
	Duration                                                                               int64
	Result                                                                                 Result
	Flags                                                                                  Flags
	Clusters                                                                               []string
}

func s(b []byte) string {
	if b == nil {
		return "<nil>"
	}
	return string(b)
}

func viewOf(r *Record) view {
	v := view{
		FallbackPath: s(r.FallbackPath), FallbackFinal: s(r.FallbackFinalCluster), FallbackResult: s(r.FallbackResult),
		UpstreamCluster: s(r.UpstreamCluster), ResponseFlags: s(r.ResponseFlags), RouteName: s(r.RouteName),
		Authority: s(r.Authority), Method: s(r.Method), Path: s(r.Path), StartTime: s(r.StartTime),
		UpstreamHost: s(r.UpstreamHost), RequestID: s(r.RequestID),
		ResponseCode: r.ResponseCode, Duration: r.Duration, Result: r.Result, Flags: r.Flags,
	}
	for _, c := range r.Clusters {
		v.Clusters = append(v.Clusters, string(c))
	}
	return v
}

// envoyTextLine is the client-side record of Istio's access-log task, in Istio's default TEXT
// encoding (testdata/realworld/logs/istio-io-access-log.text.log, line 1).
const envoyTextLine = `[2020-11-25T21:26:18.409Z] "GET /status/418 HTTP/1.1" 418 - via_upstream - "-" 0 135 4 4 "-" "curl/7.73.0-DEV" "84961386-6d84-929d-98bd-c5aee93b5c88" "httpbin:8000" "10.44.1.27:80" outbound|8000||httpbin.foo.svc.cluster.local 10.44.1.23:37652 10.0.45.184:8000 10.44.1.23:46520 - default`

const (
	v3 = "outbound|9080|v3|reviews.default.svc.cluster.local"
	v2 = "outbound|9080|v2|reviews.default.svc.cluster.local"
	v1 = "outbound|9080|v1|reviews.default.svc.cluster.local"
)

func TestSeedRecords(t *testing.T) {
	var p Parser
	var r Record
	require.NoError(t, p.Parse([]byte(corpus.SeedSuccess), &r))
	require.Equal(t, view{
		FallbackPath: v3 + ":" + v2, FallbackFinal: v2, FallbackResult: "fallback successful", UpstreamCluster: v2,
		ResponseFlags: "<nil>", RouteName: "<nil>", Authority: "reviews:9080", Method: "GET", Path: "/reviews/0",
		StartTime: "2023-05-30T07:02:26.990Z", UpstreamHost: "172.16.0.11:9080", RequestID: "15b2dffc-5f3f-4060-b9fa-898eab08****",
		ResponseCode: 200, Duration: 10, Result: ResultSuccess, Clusters: []string{v3, v2},
	}, viewOf(&r))
	require.Equal(t, v2, string(r.FinalCluster()))
	tm, err := r.Time()
	require.NoError(t, err)
	require.Equal(t, time.Date(2023, 5, 30, 7, 2, 26, 990e6, time.UTC), tm)

	require.NoError(t, p.Parse([]byte(corpus.SeedFailed), &r))
	require.Equal(t, ResultFailed, r.Result)
	require.Equal(t, 503, r.ResponseCode)
	require.True(t, r.Flags.Has(FlagUH))
	require.Nil(t, r.FinalCluster(), "R16: no final cluster on a failed fallback")
	require.Nil(t, r.UpstreamHost)
	require.Equal(t, v3, string(r.PrimaryCluster()))
	require.Equal(t, v2, string(r.FallbackCluster()))
	require.Equal(t, int64(0), r.Duration)
}

// TestParseRules checks the record rules R18–R23 on both decoding paths.
func TestParseRules(t *testing.T) {
	base := func(extra string) string {
		return `{"upstream_cluster":"` + v3 + `","response_code":"200"` + extra + `}`
	}
	tests := []struct {
		name  string
		line  string
		check func(t *testing.T, r *Record)
	}{
		{"R18 keys in any order", `{"duration":7,"fallback_result":"fallback successful","fallback_path":"` + v3 + ":" + v2 + `","upstream_cluster":"` + v2 + `","response_code":200,"start_time":"2023-05-30T07:02:26.990Z"}`,
			func(t *testing.T, r *Record) {
				require.Equal(t, ResultSuccess, r.Result)
				require.Equal(t, []string{v3, v2}, viewOf(r).Clusters)
				require.Equal(t, int64(7), r.Duration)
			}},
		{"R18 unknown keys skipped, nested values too", base(`,"x":{"a":[1,2.5e3,{"b":null}],"c":true},"y":[],"z":false,"w":-0.0`),
			func(t *testing.T, r *Record) { require.Equal(t, 200, r.ResponseCode) }},
		{"R18 route name authority method path host id", base(`,"route_name":"reviews.v3","authority":"reviews:9080","method":"POST","path":"/r?x=1","upstream_host":"10.0.0.1:9080","request_id":"abc"`),
			func(t *testing.T, r *Record) {
				v := viewOf(r)
				require.Equal(t, []string{"reviews.v3", "reviews:9080", "POST", "/r?x=1", "10.0.0.1:9080", "abc"},
					[]string{v.RouteName, v.Authority, v.Method, v.Path, v.UpstreamHost, v.RequestID})
			}},
		{"R19 dash null absent are missing", base(`,"fallback_path":"-","fallback_result":null,"duration":"-","route_name":""`),
			func(t *testing.T, r *Record) {
				require.Nil(t, r.FallbackPath)
				require.Nil(t, r.FallbackResult)
				require.Nil(t, r.FallbackFinalCluster)
				require.Nil(t, r.RouteName)
				require.Equal(t, int64(-1), r.Duration)
				require.Equal(t, ResultNone, r.Result)
				require.Empty(t, r.Clusters)
			}},
		{"R19 typed numbers", `{"response_code":503,"duration":0}`,
			func(t *testing.T, r *Record) {
				require.Equal(t, 503, r.ResponseCode)
				require.Equal(t, int64(0), r.Duration)
			}},
		{"R19 untyped numbers", `{"response_code":"503","duration":"12"}`,
			func(t *testing.T, r *Record) {
				require.Equal(t, 503, r.ResponseCode)
				require.Equal(t, int64(12), r.Duration)
			}},
		{"R19 null code", `{"response_code":null,"upstream_cluster":"BlackHoleCluster"}`,
			func(t *testing.T, r *Record) { require.Equal(t, 0, r.ResponseCode) }},
		{"R19 number in a string field keeps its text", base(`,"route_name":12.50`),
			func(t *testing.T, r *Record) { require.Equal(t, "12.50", string(r.RouteName)) }},
		{"R20 start_time", base(`,"start_time":"2023-05-30T07:32:08.999Z"`),
			func(t *testing.T, r *Record) {
				tm, err := r.Time()
				require.NoError(t, err)
				require.Equal(t, time.Date(2023, 5, 30, 7, 32, 8, 999e6, time.UTC), tm)
			}},
		{"R21 flags as a set", base(`,"response_flags":"URX,UF"`),
			func(t *testing.T, r *Record) {
				require.Equal(t, Flags(0).With(FlagUF).With(FlagURX), r.Flags)
				require.Equal(t, "UF,URX", r.Flags.String())
			}},
		{"R21 dash is no flags", base(`,"response_flags":"-"`),
			func(t *testing.T, r *Record) { require.Equal(t, Flags(0), r.Flags) }},
		{"R21 unknown flag keeps the known ones", base(`,"response_flags":"UH,ZZ,UF"`),
			func(t *testing.T, r *Record) { require.Equal(t, Flags(0).With(FlagUH).With(FlagUF), r.Flags) }},
		{"R22 path of three clusters splits", base(`,"fallback_path":"` + v3 + ":" + v2 + ":" + v1 + `"`),
			func(t *testing.T, r *Record) {
				require.Equal(t, []string{v3, v2, v1}, viewOf(r).Clusters)
				require.Equal(t, v3, string(r.PrimaryCluster()))
			}},
		{"R22 no path: primary is upstream_cluster", base(``),
			func(t *testing.T, r *Record) {
				require.Equal(t, v3, string(r.PrimaryCluster()))
				require.Nil(t, r.FallbackCluster())
			}},
		{"R23 failed", base(`,"fallback_result":"fallback cluster is unhealthy"`),
			func(t *testing.T, r *Record) { require.Equal(t, ResultFailed, r.Result) }},
		{"R23 unknown string is reported not rejected", base(`,"fallback_result":"fallback skipped"`),
			func(t *testing.T, r *Record) {
				require.Equal(t, ResultUnknown, r.Result)
				require.Equal(t, "unknown", r.Result.String())
			}},
		{"escapes unescaped", base(`,"path":"\/a\\b\"c\u00e9\ud83d\ude00\n\t","authority":"x\u0041"`),
			func(t *testing.T, r *Record) {
				require.Equal(t, "/a\\b\"cé😀\n\t", string(r.Path))
				require.Equal(t, "xA", string(r.Authority))
			}},
		{"lone surrogates become U+FFFD", base(`,"path":"\ud800x\udc00\ud800\u0041"`),
			func(t *testing.T, r *Record) { require.Equal(t, "\uFFFDx\uFFFD\uFFFDA", string(r.Path)) }},
		{"duplicate key: last wins", base(`,"response_code":"404","route_name":"a","route_name":"-"`),
			func(t *testing.T, r *Record) {
				require.Equal(t, 404, r.ResponseCode)
				require.Nil(t, r.RouteName)
			}},
		{"duplicate key: wrong type then valid, last wins", base(`,"response_code":true,"response_code":502`),
			func(t *testing.T, r *Record) { require.Equal(t, 502, r.ResponseCode) }},
		{"escaped key", `{"upstream_cluster":"` + v3 + `","fallback\u005fresult":"fallback successful"}`,
			func(t *testing.T, r *Record) { require.Equal(t, ResultSuccess, r.Result) }},
		{"white space everywhere", " \t{ \"response_code\" :\n\"200\" , \"upstream_cluster\" : \"BlackHoleCluster\" }\r\n",
			func(t *testing.T, r *Record) { require.Equal(t, 200, r.ResponseCode) }},
		{"well-known and inbound clusters", `{"upstream_cluster":"inbound|9080||","fallback_path":"PassthroughCluster:InboundPassthroughClusterIpv6"}`,
			func(t *testing.T, r *Record) {
				require.Equal(t, []string{"PassthroughCluster", "InboundPassthroughClusterIpv6"}, viewOf(r).Clusters)
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, path := range []string{"fast", "sonic"} {
				var p Parser
				var r Record
				var err error
				if path == "fast" {
					err = p.Parse([]byte(tt.line), &r)
				} else {
					err = p.ParseSonic([]byte(tt.line), &r)
				}
				require.NoError(t, err, path)
				tt.check(t, &r)
			}
		})
	}
}

// decoder returns a new Parser's Parse ("fast") or ParseSonic ("sonic").
func decoder(path string) func([]byte, *Record) error {
	var p Parser
	if path == "sonic" {
		return p.ParseSonic
	}
	return p.Parse
}

// TestParseBad checks that every bad input gets its precise reason, on both paths, and that the
// next record parses unharmed. The general path (ParseSonic) classifies its failures with
// encoding/json, never with the fast scanner's validator, so agreement here is between two
// independent decoders.
func TestParseBad(t *testing.T) {
	good := []byte(corpus.SeedFailed)
	tests := []struct {
		name   string
		line   string
		reason Reason
		field  string
	}{
		{"blank", "", SkipBlank, ""},
		{"spaces", " \t \r", SkipBlank, ""},
		{"envoy text log", "2023-05-30T07:02:26.990Z\tinfo\txdsproxy\tconnected", SkipNotJSON, ""},
		{"array", `[1,2]`, SkipNotJSON, ""},
		{"json without access-log keys", `{"level":"info","msg":"hello"}`, SkipNotAccessLog, ""},
		{"empty object", `{}`, SkipNotAccessLog, ""},
		{"truncated in a string", corpus.SeedFailed[:300], RejectTruncated, ""},
		{"truncated after a value", `{"response_code":200`, RejectTruncated, ""},
		{"truncated after a comma", `{"response_code":200,`, RejectTruncated, ""},
		{"truncated literal", `{"response_code":nul`, RejectTruncated, ""},
		{"truncated escape", `{"path":"\u00`, RejectTruncated, ""},
		{"only a brace (multi-line JSON, §6)", `{`, SkipMultilineJSON, ""},
		{"a member of multi-line JSON", `"upstream_cluster": "outbound|9080||reviews.default.svc.cluster.local",`, SkipMultilineJSON, ""},
		{"closing brace of multi-line JSON", `}`, SkipMultilineJSON, ""},
		{"envoy TEXT access log (Istio's default encoding)", envoyTextLine, SkipEnvoyText, ""},
		{"missing colon", `{"response_code" 200}`, RejectInvalidJSON, ""},
		{"trailing comma", `{"response_code":200,}`, RejectInvalidJSON, ""},
		{"single quotes", `{'response_code':200}`, RejectInvalidJSON, ""},
		{"leading zero", `{"response_code":0200}`, RejectInvalidJSON, ""},
		{"bad literal", `{"response_code":200,"x":nulL}`, RejectInvalidJSON, ""},
		{"bare word", `{"response_code":abc}`, RejectInvalidJSON, ""},
		{"bad escape", `{"response_code":200,"x":"\q"}`, RejectInvalidJSON, ""},
		{"bad unicode escape", `{"response_code":200,"x":"\u12g4"}`, RejectInvalidJSON, ""},
		{"control character", "{\"response_code\":200,\"x\":\"a\x01b\"}", RejectInvalidJSON, ""},
		{"raw newline in string", "{\"response_code\":200,\"path\":\"a\nb\"}", RejectInvalidJSON, ""},
		{"data after object", `{"response_code":200} {"x":1}`, RejectInvalidJSON, ""},
		{"unclosed nested", `{"response_code":200,"x":[1,2}`, RejectInvalidJSON, ""},
		{"invalid utf-8 in a wanted string", "{\"response_code\":200,\"path\":\"/\xff\"}", RejectInvalidUTF8, ""},
		{"invalid utf-8 in a field fallbackwatch reads (issue §8)", "{\"response_code\":200,\"upstream_cluster\":\"outbound|9080||re\xffviews\",\"user_agent\":\"\xc3\x28\"}", RejectInvalidUTF8, "upstream_cluster"},
		{"invalid utf-8 in an unread field, with a U+FFFD of its own", "{\"response_code\":200,\"route_name\":\"\uFFFD\",\"user_agent\":\"\xc3\x28\"}", RejectInvalidUTF8, ""},
		{"wrong type: code object", `{"response_code":{"v":200}}`, RejectWrongType, "response_code"},
		{"wrong type: code fraction", `{"response_code":200.5}`, RejectWrongType, "response_code"},
		{"wrong type: code text", `{"response_code":"OK"}`, RejectWrongType, "response_code"},
		{"wrong type: duration bool", `{"response_code":200,"duration":true}`, RejectWrongType, "duration"},
		{"wrong type: cluster array", `{"upstream_cluster":["a"]}`, RejectWrongType, "upstream_cluster"},
		{"bad cluster", `{"upstream_cluster":"outbound|x|v3|reviews"}`, RejectBadCluster, "upstream_cluster"},
		{"bad final cluster", `{"response_code":200,"fallback_final_cluster_name":"reviews v2"}`, RejectBadCluster, "fallback_final_cluster_name"},
		{"cluster with a control byte", `{"upstream_cluster":"x\u001b[31m"}`, RejectBadCluster, "upstream_cluster"},
		{"fallback path of one cluster", `{"response_code":200,"fallback_path":"` + v3 + `"}`, RejectBadFallbackPath, "fallback_path"},
		{"fallback path with a bad element", `{"response_code":200,"fallback_path":"` + v3 + `:outbound|v2"}`, RejectBadFallbackPath, "fallback_path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, path := range []string{"fast", "sonic"} {
				var r Record
				parse := decoder(path)
				err := parse([]byte(tt.line), &r)
				var pe *Error
				require.ErrorAs(t, err, &pe, path)
				require.Equal(t, tt.reason, pe.Reason, "%s: %v", path, err)
				skipped := strings.HasPrefix(string(tt.reason), "blank") || strings.HasPrefix(string(tt.reason), "not_") ||
					tt.reason == SkipEnvoyText || tt.reason == SkipMultilineJSON
				require.Equal(t, skipped, pe.Reason.Skipped())
				if tt.field != "" {
					require.Equal(t, tt.field, pe.Field, path)
				}
				require.NotEmpty(t, pe.Error())
				// The next record is unharmed.
				require.NoError(t, parse(good, &r), path)
				require.Equal(t, ResultFailed, r.Result)
				require.Equal(t, v3, string(r.UpstreamCluster))
			}
		})
	}
}

// TestInvalidUTF8InUnreadFields: invalid bytes where fallbackwatch does not read (user_agent,
// upstream_host, unknown keys and their nested values) cost nothing but a flag; both paths agree.
func TestInvalidUTF8InUnreadFields(t *testing.T) {
	good := corpus.SeedSuccess
	for _, line := range []string{
		strings.Replace(good, `"user_agent":"`, "\"user_agent\":\"\xff\xfe", 1),
		strings.Replace(good, `"upstream_host":"`, "\"upstream_host\":\"\xc3\x28", 1),
		strings.Replace(good, `{`, "{\"x\":[\"\xe2\x82\"],\"k\xff\":1,", 1),
	} {
		require.False(t, utf8.ValidString(line))
		for _, path := range []string{"fast", "sonic"} {
			var r Record
			parse := decoder(path)
			require.NoError(t, parse([]byte(line), &r), path)
			require.True(t, r.InvalidUTF8Ignored, path)
			require.Equal(t, ResultSuccess, r.Result, path)
			require.Equal(t, "outbound|9080|v2|reviews.default.svc.cluster.local", string(r.UpstreamCluster), path)
			require.NoError(t, parse([]byte(good), &r), path)
			require.False(t, r.InvalidUTF8Ignored, "the flag is per record")
		}
	}
}

// TestParseMatchesSonic compares both decoding paths over a generated corpus with escapes,
// typed and untyped numbers and several key orders, parsed by one Parser (warm key orders).
func TestParseMatchesSonic(t *testing.T) {
	lines := corpus.Lines(5000, corpus.Options{Seed: 7, EscapeRate: 0.2, EnvoyTextRate: 0.01})
	var fast, oracle Parser
	var r1, r2 Record
	records := 0
	for i, line := range lines {
		err1 := fast.Parse(line, &r1)
		err2 := oracle.ParseSonic(line, &r2)
		require.Equal(t, err2 == nil, err1 == nil, "line %d: fast %v, sonic %v", i+1, err1, err2)
		if err1 != nil {
			require.Equal(t, SkipNotJSON, err1.(*Error).Reason)
			continue
		}
		records++
		require.Equal(t, viewOf(&r2), viewOf(&r1), "line %d", i+1)
	}
	require.Greater(t, records, 4900)
	require.Zero(t, fast.Declined, "the fast path declined generated records")
}

// TestParseZeroAllocs holds the fast path to zero allocations per record once warm.
func TestParseZeroAllocs(t *testing.T) {
	lines := corpus.Lines(1000, corpus.Options{Seed: 3})
	var p Parser
	var r Record
	for _, l := range lines {
		require.NoError(t, p.Parse(l, &r))
	}
	i := 0
	allocs := testing.AllocsPerRun(2000, func() {
		if err := p.Parse(lines[i%len(lines)], &r); err != nil {
			panic(err)
		}
		i++
	})
	require.Zero(t, allocs)
}

// TestKeyOrderChange checks that a change of key order mid-stream is followed.
func TestKeyOrderChange(t *testing.T) {
	var p Parser
	var r Record
	lines := []string{
		`{"a":1,"response_code":200,"duration":5}`,
		`{"a":1,"response_code":201,"duration":6}`,
		`{"a":1,"duration":7,"response_code":202}`,
		`{"a":1,"response_code":203}`,
		`{"a":1,"response_code":204,"duration":8,"upstream_cluster":"BlackHoleCluster"}`,
		`{"a":1,"response_cod":1,"response_code":205}`,
		`{"response_code":206}`,
	}
	want := []struct {
		code int
		dur  int64
	}{{200, 5}, {201, 6}, {202, 7}, {203, -1}, {204, 8}, {205, -1}, {206, -1}}
	for i, l := range lines {
		require.NoError(t, p.Parse([]byte(l), &r), l)
		require.Equal(t, want[i].code, r.ResponseCode, l)
		require.Equal(t, want[i].dur, r.Duration, l)
	}
}

// oracleAccepts says whether the reference decoders take b as one valid JSON object.
func oracleAccepts(b []byte) bool {
	b = trimSpace(b)
	return len(b) > 0 && b[0] == '{' && json.Valid(bytes.ToValidUTF8(b, []byte("\uFFFD")))
}

// oracleUsedFieldsValid decodes b with encoding/json, which replaces invalid UTF-8 by U+FFFD, and
// reports whether every field fallbackwatch reads is free of U+FFFD: the second decoder's view
// of the invalid-UTF-8 policy (parse/doc.go).
func oracleUsedFieldsValid(b []byte) bool {
	var m map[string]any
	if json.Unmarshal(b, &m) != nil {
		return false
	}
	for _, f := range usedFields {
		if v, ok := m[fieldKeys[f]].(string); ok && strings.ContainsRune(v, utf8.RuneError) {
			return false
		}
	}
	return true
}

// FuzzParse is a differential fuzzer: every input the fast path accepts must be valid JSON to
// encoding/json and yield the same fields as sonic; every input the oracle rejects must be
// rejected.
func FuzzParse(f *testing.F) {
	f.Add([]byte(corpus.SeedSuccess))
	f.Add([]byte(corpus.SeedFailed))
	for _, l := range corpus.Lines(20, corpus.Options{Seed: 9, EscapeRate: 0.5}) {
		f.Add(l)
	}
	for _, l := range []string{`{"response_code":200,"x":[1,{"y":"\u00e9"}]}`, `{"path":"\ud83d\ude00\ud800"}`,
		`{"response_code":"1","response_code":2}`, `{"fallback\u005fpath":"-","route_name":null}`} {
		f.Add([]byte(l))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		if len(line) > 64<<10 {
			return
		}
		var p, o Parser
		var r1, r2 Record
		in := bytes.Clone(line)
		err1 := p.Parse(line, &r1)
		require.Equal(t, in, line, "Parse modified its input")
		valid := oracleAccepts(line)
		if err1 == nil {
			require.True(t, valid, "accepted invalid JSON")
			if !utf8.Valid(line) {
				require.True(t, r1.InvalidUTF8Ignored)
				require.True(t, oracleUsedFieldsValid(line), "accepted invalid UTF-8 in a field fallbackwatch reads")
			}
			err2 := o.ParseSonic(line, &r2)
			require.NoError(t, err2, "fast path accepted what the oracle rejects")
			require.Equal(t, viewOf(&r2), viewOf(&r1))
			// Parsing again with warm key orders gives the same answer.
			require.NoError(t, p.Parse(line, &r2))
			require.Equal(t, viewOf(&r1), viewOf(&r2))
			return
		}
		var pe *Error
		require.True(t, errors.As(err1, &pe))
		require.NotEqual(t, Reason("decline"), pe.Reason)
		if valid {
			// Valid JSON may be rejected only for what it says, and the oracle must agree.
			err2 := o.ParseSonic(line, &r2)
			require.Error(t, err2, "fast path rejected (%v) what the oracle accepts", err1)
			require.Equal(t, err2.(*Error).Reason, pe.Reason, fmt.Sprintf("fast %v, sonic %v", err1, err2))
		}
	})
}
