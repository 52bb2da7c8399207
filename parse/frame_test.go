package parse

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fallbackwatch/fallbackwatch/internal/corpus"
)

// frameAll frames lines and returns the payloads, errors as "<reason>".
func frameAll(t *testing.T, f *Framer, lines []string) []string {
	t.Helper()
	var got []string
	for _, l := range lines {
		p, ok, err := f.Frame([]byte(l))
		var pe *Error
		switch {
		case errors.As(err, &pe):
			got = append(got, "<"+string(pe.Reason)+">")
		case err != nil:
			t.Fatal(err)
		case ok:
			got = append(got, string(p))
		}
	}
	return got
}

const criTime = "2023-05-30T07:02:26.990123456Z"

func TestFramer(t *testing.T) {
	rec := `{"response_code":"200"}`
	tests := []struct {
		name    string
		opts    Options
		lines   []string
		want    []string
		format  Format
		pending bool
	}{
		{"raw", Options{}, []string{rec, "", "2023-05-30T07:02:26.990Z\tinfo\tads\tx", rec}, []string{rec, "", "2023-05-30T07:02:26.990Z\tinfo\tads\tx", rec}, FormatRaw, false},
		{"raw after envoy text", Options{}, []string{"2023-05-30T07:02:26.990Z info envoy main starting", rec}, []string{"2023-05-30T07:02:26.990Z info envoy main starting", rec}, FormatRaw, false},
		{"cri full", Options{}, []string{criTime + " stdout F " + rec, criTime + " stderr F x"}, []string{rec, "x"}, FormatCRI, false},
		{"cri partial reassembled", Options{}, []string{criTime + " stdout P {\"response_", criTime + " stdout P code\":", criTime + " stdout F \"200\"}"}, []string{rec}, FormatCRI, false},
		{"cri partial per stream", Options{}, []string{criTime + " stdout P {\"resp", criTime + " stderr F warn", criTime + " stderr P e", criTime + " stdout F onse_code\":\"200\"}", criTime + " stderr F rr"}, []string{"warn", rec, "err"}, FormatCRI, false},
		{"cri pending at the end", Options{}, []string{criTime + " stdout P {\"resp"}, nil, FormatCRI, true},
		{"cri multiple tags", Options{}, []string{criTime + " stdout F:x " + rec}, []string{rec}, FormatCRI, false},
		{"cri empty message", Options{}, []string{criTime + " stdout F"}, []string{""}, FormatCRI, false},
		{"cri bad line after detection", Options{}, []string{criTime + " stdout F " + rec, "garbage", criTime + " stdout F " + rec}, []string{rec, "<bad_envelope>", rec}, FormatCRI, false},
		{"cri overflow then next record unharmed", Options{MaxLine: 10}, []string{criTime + " stdout P 123456", criTime + " stdout P 789012", criTime + " stdout P more", criTime + " stdout F end", criTime + " stdout F ok"}, []string{"<partial_overflow>", "ok"}, FormatCRI, false},
		{"cri overflow on final fragment", Options{MaxLine: 10}, []string{criTime + " stdout P 123456", criTime + " stdout F 789012", criTime + " stdout F ok"}, []string{"<partial_overflow>", "ok"}, FormatCRI, false},
		{"forced cri", Options{Format: FormatCRI}, []string{rec}, []string{"<bad_envelope>"}, FormatCRI, false},
		{"docker", Options{}, []string{`{"log":"{\"response_code\":\"200\"}\n","stream":"stdout","time":"2023-05-30T07:02:26.990Z"}`}, []string{rec}, FormatDocker, false},
		{"docker partial", Options{}, []string{`{"log":"{\"response_","stream":"stdout","time":"t"}`, `{"log":"code\":\"200\"}\n","stream":"stdout","time":"t"}`}, []string{rec}, FormatDocker, false},
		{"docker bad line", Options{}, []string{`{"log":"x\n","stream":"stdout","time":"t"}`, `{"log":`, ``}, []string{"x", "<bad_envelope>", ""}, FormatDocker, false},
		{"fluent bit envelope", Options{EnvelopeField: "log"}, []string{`{"log":"{\"response_code\":\"200\"}\n","kubernetes":{"namespace_name":"default","pod_name":"productpage-v1-5f9dbcd669-x2k7p"}}`}, []string{rec}, FormatRaw, false},
		{"envelope without the field", Options{EnvelopeField: "log"}, []string{`{"message":"x"}`, `{"log":5}`}, []string{"<bad_envelope>", "<bad_envelope>"}, FormatAuto, false},
		{"envelope around cri", Options{EnvelopeField: "message"}, []string{`{"message":"` + criTime + ` stdout F {\"response_code\":\"200\"}"}`}, []string{rec}, FormatCRI, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := NewFramer(tt.opts)
			require.Equal(t, tt.want, frameAll(t, f, tt.lines))
			require.Equal(t, tt.format, f.Format())
			require.Equal(t, tt.pending, f.Pending())
		})
	}
}

func TestFramerMeta(t *testing.T) {
	f := NewFramer(Options{EnvelopeField: "log"})
	_, ok, err := f.Frame([]byte(`{"log":"{}","kubernetes":{"namespace_name":"default","pod_name":"productpage-v1-5f9dbcd669-x2k7p","container_name":"istio-proxy"}}`))
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, Meta{Namespace: "default", Pod: "productpage-v1-5f9dbcd669-x2k7p", Container: "istio-proxy"}, f.Meta())

	f = NewFramer(Options{})
	_, _, err = f.Frame([]byte(criTime + " stderr F {}"))
	require.NoError(t, err)
	require.Equal(t, Meta{Stream: "stderr", Time: criTime}, f.Meta())
}

func TestParseFormat(t *testing.T) {
	for _, f := range []Format{FormatAuto, FormatRaw, FormatCRI, FormatDocker} {
		got, err := ParseFormat(f.String())
		require.NoError(t, err)
		require.Equal(t, f, got)
	}
	_, err := ParseFormat("json")
	require.Error(t, err)
}

// streamAll reads a whole stream: records as request ids or result, errors as "<reason>@line".
func streamAll(t *testing.T, s *Stream) []string {
	t.Helper()
	var got []string
	var r Record
	for {
		n, err := s.Next(&r)
		if err == io.EOF {
			return got
		}
		var pe *Error
		switch {
		case errors.As(err, &pe):
			got = append(got, fmt.Sprintf("<%s>@%d", pe.Reason, n))
		case err != nil:
			t.Fatal(err)
		default:
			got = append(got, fmt.Sprintf("%d %s@%d", r.ResponseCode, r.Result, n))
		}
	}
}

// TestStreamFormats reads the same records in the three framings, with a long line split into
// CRI fragments, and checks that the results agree.
func TestStreamFormats(t *testing.T) {
	const n = 300
	raw := corpus.Lines(n, corpus.Options{Seed: 5, EscapeRate: 0.1})
	var want []string
	var p Parser
	var r Record
	for i, l := range raw {
		require.NoError(t, p.Parse(l, &r))
		want = append(want, fmt.Sprintf("%d %s@%d", r.ResponseCode, r.Result, i+1))
	}
	for _, opts := range []corpus.Options{{Format: corpus.Raw}, {Format: corpus.Docker}, {Format: corpus.CRI}, {Format: corpus.CRI, CRISplit: 300}} {
		t.Run(fmt.Sprintf("format%d-split%d", opts.Format, opts.CRISplit), func(t *testing.T) {
			opts.Seed, opts.EscapeRate = 5, 0.1
			var buf bytes.Buffer
			require.NoError(t, corpus.Generate(&buf, n, opts))
			s := NewStream(bytes.NewReader(buf.Bytes()), Options{})
			got := streamAll(t, s)
			if opts.CRISplit == 0 {
				require.Equal(t, want, got)
			} else {
				// Line numbers differ: compare the records only.
				require.Len(t, got, n)
				for i := range got {
					require.Equal(t, want[i][:strings.IndexByte(want[i], '@')], got[i][:strings.IndexByte(got[i], '@')])
				}
			}
			require.Equal(t, int64(buf.Len()), s.BytesRead())
			require.Equal(t, int64(buf.Len()), s.Offset())
			require.False(t, s.Pending())
			require.Zero(t, s.Declined())
		})
	}
}

// TestStreamBadLines checks that bad lines are reported with their line number and reason and
// never harm the next record.
func TestStreamBadLines(t *testing.T) {
	good := corpus.SeedSuccess
	in := strings.Join([]string{
		good,
		"",
		"2023-05-30T07:02:26.990Z\tinfo\tenvoy main\tstarting",
		good[:200],
		"{\"response_code\":200,\"path\":\"\xff\"}",
		strings.Repeat("x", 3000),
		`{"response_code":{}}`,
		`{"level":"info"}`,
		`{"upstream_cluster":"outbound|reviews"}`,
		good,
	}, "\r\n")
	s := NewStream(strings.NewReader(in), Options{MaxLine: 2048})
	require.Equal(t, []string{
		"200 success@1", "<blank>@2", "<not_json>@3", "<truncated>@4", "<invalid_utf8>@5",
		"<too_long>@6", "<wrong_type>@7", "<not_access_log>@8", "<bad_cluster>@9", "200 success@10",
	}, streamAll(t, s))
	require.Equal(t, int64(10), s.Lines())
}

func TestPodFromLogPath(t *testing.T) {
	id := strings.Repeat("0123456789abcdef", 4)
	tests := []struct {
		path, ns, pod, container string
		bad                      bool
	}{
		{path: "/var/log/containers/productpage-v1-5f9dbcd669-x2k7p_default_istio-proxy-" + id + ".log", ns: "default", pod: "productpage-v1-5f9dbcd669-x2k7p", container: "istio-proxy"},
		{path: "/var/log/pods/default_productpage-v1-5f9dbcd669-x2k7p_0d1e2f3a-1111-2222-3333-444455556666/istio-proxy/0.log", ns: "default", pod: "productpage-v1-5f9dbcd669-x2k7p", container: "istio-proxy"},
		{path: "/var/log/containers/web-0_shop_envoy-" + id + ".log", ns: "shop", pod: "web-0", container: "envoy"},
		{path: "/var/log/messages", bad: true},
		{path: "/var/log/containers/nounderscores-" + id + ".log", bad: true},
		{path: "/var/log/containers/a_b_c-xyz.log", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			ns, pod, c, err := PodFromLogPath(tt.path)
			if tt.bad {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, []string{tt.ns, tt.pod, tt.container}, []string{ns, pod, c})
		})
	}
}

func TestWorkloadFromPod(t *testing.T) {
	tests := []struct{ pod, want string }{
		{"productpage-v1-5f9dbcd669-x2k7p", "productpage-v1"},
		{"reviews-v3-7dbcdcbc56-2zjvx", "reviews-v3"},
		{"istio-ingressgateway-6b7c9d8f4-rxq2n", "istio-ingressgateway"},
		{"web-0", "web"},
		{"kafka-broker-12", "kafka-broker"},
		{"fluent-bit-7xkqz", "fluent-bit"},
		{"istio-cni-node-9wz4t", "istio-cni-node"},
		{"productpage-v1", "productpage-v1"},
		{"standalone", "standalone"},
		{"app-v2-abc", "app-v2-abc"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, WorkloadFromPod(tt.pod), tt.pod)
	}
}

// FuzzFramer checks that framing never panics, never returns a payload over the cap, and that
// Pending is false once a final fragment closes every stream.
func FuzzFramer(f *testing.F) {
	f.Add([]byte(criTime+" stdout P {\"a\":\n"+criTime+" stdout F 1}\n"), 16)
	f.Add([]byte(`{"log":"{\"a\":1}\n","stream":"stdout","time":"t"}`+"\n"), 0)
	f.Add([]byte(corpus.SeedSuccess+"\n\n2023-05-30T07:02:26.990Z info x\n"), 64)
	f.Fuzz(func(t *testing.T, in []byte, maxLine int) {
		if len(in) > 64<<10 {
			return
		}
		maxLine = maxLine%4096 + 1
		if maxLine <= 0 {
			maxLine += 4096
		}
		s := NewStream(bytes.NewReader(in), Options{MaxLine: maxLine})
		var r Record
		last := int64(0)
		for {
			n, err := s.Next(&r)
			if err == io.EOF {
				break
			}
			var pe *Error
			if err != nil && !errors.As(err, &pe) {
				t.Fatalf("unexpected error %v", err)
			}
			require.GreaterOrEqual(t, n, last, "line numbers go backwards")
			last = n
		}
		require.Equal(t, int64(len(in)), s.BytesRead())
		require.Equal(t, int64(len(in)), s.Offset())
		require.LessOrEqual(t, len(s.framer.partial[0]), maxLine)
		require.LessOrEqual(t, len(s.framer.partial[1]), maxLine)
	})
}

func TestFragment(t *testing.T) {
	tests := []struct {
		name            string
		line            string
		stream          int
		partial, framed bool
	}{
		{"cri final", criTime + " stdout F {}", 0, false, true},
		{"cri partial", criTime + " stdout P {\"a\":", 0, true, true},
		{"cri stderr partial", criTime + " stderr P x", 1, true, true},
		{"cri tags", criTime + " stdout P:x y", 0, true, true},
		{"docker complete", `{"log":"{}\n","stream":"stdout","time":"t"}`, 0, false, true},
		{"docker partial", `{"log":"{\"a\":","stream":"stdout","time":"t"}`, 0, true, true},
		{"docker stderr partial", `{"log":"x","stream":"stderr","time":"t"}`, 1, true, true},
		{"docker text ending in a backslash and n", `{"log":"a\\n","stream":"stdout","time":"t"}`, 0, true, true},
		{"docker text ending in a backslash and a newline", `{"log":"a\\\n","stream":"stdout","time":"t"}`, 0, false, true},
		{"raw json", `{"response_code":"200"}`, 0, false, false},
		{"text", "2023-05-30T07:02:26.990Z\tinfo\tads\tx", 0, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stream, partial, ok := Fragment([]byte(tt.line))
			require.Equal(t, tt.framed, ok)
			require.Equal(t, tt.partial, partial)
			require.Equal(t, tt.stream, stream)
			if ok {
				// The Framer agrees: a partial fragment is held, a final one is not.
				f := NewFramer(Options{})
				_, _, err := f.Frame([]byte(tt.line))
				require.NoError(t, err)
				require.Equal(t, tt.partial, f.Pending())
			}
		})
	}
}

func TestFramerEnd(t *testing.T) {
	f := NewFramer(Options{})
	_, ok, err := f.Frame([]byte(criTime + " stdout P {\"a\":"))
	require.NoError(t, err)
	require.False(t, ok)
	var pe *Error
	require.ErrorAs(t, f.End(), &pe)
	require.Equal(t, RejectUnterminated, pe.Reason)
	require.False(t, f.Pending())
	require.Equal(t, FormatAuto, f.Format(), "End forgets the detected format")
	require.NoError(t, f.End(), "nothing held: nothing to count")
	// A line over the cap was already counted: its end is not counted again.
	f = NewFramer(Options{MaxLine: 4})
	_, _, err = f.Frame([]byte(criTime + " stdout P 123456"))
	require.ErrorAs(t, err, &pe)
	require.Equal(t, RejectPartialOverflow, pe.Reason)
	require.NoError(t, f.End())
}
