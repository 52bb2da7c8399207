package parse

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/bytedance/sonic"
)

// Parser extracts Records from access-log JSON payloads. The zero value is ready to use. It is
// not safe for concurrent use; give each goroutine its own.
//
// Parse borrows: the byte slices it stores in a Record point into the line passed to Parse or
// into the Parser's scratch buffer (for strings that contained JSON escapes). They stay valid
// until the next Parse call on the same Parser and as long as the caller does not modify or
// reuse the line. Copy what you keep, e.g. with string(b) or Cluster.Owned.
type Parser struct {
	scratch []byte
	fixed   []byte              // a copy of a line with invalid UTF-8 replaced, see repair
	orders  [numOrders]keyOrder // recent key orders, to predict the next record's keys
	victim  int
	// Declined counts the lines the fast scanner handed to the general decoder.
	Declined int64
}

// sonicAPI is the general decoder: it handles the shapes the fast scanner declines and is the
// oracle the tests compare the scanner with.
var sonicAPI = sonic.Config{UseNumber: true, ValidateString: true}.Froze()

// Parse extracts the record in one JSON object (R18, R19). On failure it returns an *Error whose
// Reason says whether the line was skipped (not an access log) or rejected, and r holds no usable
// values. Surrounding white space is ignored.
//
// Semantics shared by both decoding paths: keys may come in any order and unknown keys are
// skipped; a key that appears twice takes its last value (as in encoding/json and sonic); "-",
// "", null and an absent key all mean missing; response_code and duration may be JSON integers
// or strings holding one; a string field given a JSON number keeps the number's text.
func (p *Parser) Parse(line []byte, r *Record) error {
	r.Reset()
	p.scratch = p.scratch[:0]
	b := trimSpace(line)
	if len(b) == 0 {
		return &Error{Reason: SkipBlank, Offset: -1}
	}
	if b[0] != '{' || len(b) == 1 {
		return &Error{Reason: notObject(b), Offset: 0}
	}
	err := p.parseObject(b, r)
	if pe, ok := err.(*Error); ok && pe.Reason == RejectInvalidUTF8 {
		return p.repair(b, r, pe, p.parseObject)
	}
	return err
}

// parseObject extracts the record in the trimmed object b with the fast scanner, handing the
// shapes it declines to the general decoder.
func (p *Parser) parseObject(b []byte, r *Record) error {
	found, err := p.scanObject(b, r)
	if err == errDecline {
		p.Declined++
		return p.parseSonic(b, r)
	}
	if err != nil {
		return err
	}
	if !found {
		return &Error{Reason: SkipNotAccessLog, Offset: -1}
	}
	return finish(r)
}

// usedFields are the string fields fallbackwatch reads: invalid UTF-8 in one of them rejects
// the record. upstream_host, request_id and every key fallbackwatch does not extract are not
// read, and invalid bytes there are ignored (Record.InvalidUTF8Ignored).
var usedFields = [...]field{fFallbackPath, fFallbackFinal, fFallbackResult, fUpstreamCluster, fResponseFlags,
	fRouteName, fAuthority, fMethod, fPath, fStartTime, fProtocol}

var replacementChar = []byte("\uFFFD")

// repair decodes an object holding invalid UTF-8 (orig says where): every invalid byte becomes
// U+FFFD in a copy that decode reads; the record is rejected when a field fallbackwatch reads
// holds one, and kept otherwise. When the input holds U+FFFD of its own (raw or escaped),
// replaced bytes could not be told from it and the record is rejected as before.
func (p *Parser) repair(b []byte, r *Record, orig *Error, decode func([]byte, *Record) error) error {
	if bytes.Contains(b, []byte("\xef\xbf\xbd")) || bytes.Contains(bytes.ToLower(b), []byte(`\ufffd`)) {
		return orig
	}
	p.fixed = p.fixed[:0]
	for rest := b; len(rest) > 0; {
		c, n := utf8.DecodeRune(rest)
		if c == utf8.RuneError && n == 1 {
			p.fixed = append(p.fixed, replacementChar...)
		} else {
			p.fixed = append(p.fixed, rest[:n]...)
		}
		rest = rest[n:]
	}
	if err := decode(p.fixed, r); err != nil {
		return err
	}
	for _, f := range usedFields {
		if bytes.Contains(*r.stringField(f), replacementChar) {
			r.Reset()
			return &Error{Reason: RejectInvalidUTF8, Offset: orig.Offset, Field: fieldKeys[f], Msg: "invalid UTF-8 in a field fallbackwatch reads"}
		}
	}
	r.InvalidUTF8Ignored = true
	return nil
}

// notObject names the skip reason of a trimmed line that is not a whole JSON object: a record
// in Envoy's TEXT encoding, a line of a JSON object printed over several lines, or anything else.
func notObject(b []byte) Reason {
	switch {
	case string(b) == "{" || string(b) == "}" || string(b) == "},":
		return SkipMultilineJSON
	case b[0] == '"':
		// `"key": value` or `"key": value,`: a member of a pretty-printed object.
		if i := bytes.IndexByte(b[1:], '"'); i >= 0 && i+2 < len(b) && bytes.HasPrefix(bytes.TrimLeft(b[i+2:], " \t"), []byte(":")) {
			return SkipMultilineJSON
		}
	case looksEnvoyText(b):
		return SkipEnvoyText
	}
	return SkipNotJSON
}

// looksEnvoyText recognises a record of Envoy's default TEXT format: "[" a start time
// beginning with a digit "] " and a quoted request line ("GET /path HTTP/1.1", "- - -" for TCP).
func looksEnvoyText(b []byte) bool {
	if len(b) < 8 || b[0] != '[' || b[1] < '0' || b[1] > '9' {
		return false
	}
	end := bytes.IndexByte(b[:min(len(b), 64)], ']')
	return end > 0 && bytes.HasPrefix(b[end:], []byte("] \""))
}

// ParseSonic extracts the record with the general decoder only. Parse gives the same answers
// faster; ParseSonic exists as a reference for tests and benchmarks.
func (p *Parser) ParseSonic(line []byte, r *Record) error {
	r.Reset()
	p.scratch = p.scratch[:0]
	b := trimSpace(line)
	if len(b) == 0 {
		return &Error{Reason: SkipBlank, Offset: -1}
	}
	if b[0] != '{' || len(b) == 1 {
		return &Error{Reason: notObject(b), Offset: 0}
	}
	return p.parseSonic(b, r)
}

// parseSonic decodes the trimmed object b with sonic into a map.
func (p *Parser) parseSonic(b []byte, r *Record) error {
	if !utf8.Valid(b) {
		return p.repair(b, r, &Error{Reason: RejectInvalidUTF8, Offset: invalidUTF8At(b), Msg: "invalid UTF-8"}, p.parseSonicValid)
	}
	return p.parseSonicValid(b, r)
}

// parseSonicValid decodes the trimmed object b, valid UTF-8, with sonic into a map.
func (p *Parser) parseSonicValid(b []byte, r *Record) error {
	r.Reset()
	p.scratch = p.scratch[:0]
	var m map[string]any
	if err := sonicAPI.Unmarshal(b, &m); err != nil {
		return classify(b, err)
	}
	found := false
	for f := fNone + 1; f < numFields; f++ {
		v, ok := m[fieldKeys[f]]
		if !ok {
			continue
		}
		switch f {
		case fFallbackPath, fFallbackFinal, fFallbackResult:
			r.FallbackFields = true
		case fProtocol:
			r.hasProtocol = true
		}
		found = found || accessLogField[f]
		var text []byte
		switch v := v.(type) {
		case nil:
		case string:
			if v != "-" && v != "" {
				start := len(p.scratch)
				p.scratch = append(p.scratch, v...)
				text = p.scratch[start:len(p.scratch):len(p.scratch)]
			}
		case json.Number:
			start := len(p.scratch)
			p.scratch = append(p.scratch, v...)
			text = p.scratch[start:len(p.scratch):len(p.scratch)]
		default:
			want := "a string"
			if f >= fResponseCode {
				want = "an integer"
			}
			return &Error{Reason: RejectWrongType, Offset: -1, Field: fieldKeys[f], Msg: fmt.Sprintf("want %s, got %T", want, v)}
		}
		if f < fResponseCode {
			*r.stringField(f) = text
			continue
		}
		n, ok := parseInt(text)
		if text != nil && !ok {
			return &Error{Reason: RejectWrongType, Offset: -1, Field: fieldKeys[f], Msg: "want an integer, got " + strconv.Quote(truncate(text))}
		}
		r.setInt(f, n, text == nil)
	}
	if !found {
		return &Error{Reason: SkipNotAccessLog, Offset: -1}
	}
	return finish(r)
}

// classify turns a decoder error on b into a precise reason. It asks encoding/json, not the
// fast scanner, so that the general path reaches its reasons on its own and stays an
// independent oracle of the scanner.
func classify(b []byte, err error) *Error {
	var v any
	stdErr := json.Unmarshal(b, &v)
	var se *json.SyntaxError
	if errors.As(stdErr, &se) {
		if msg := se.Error(); msg == "unexpected end of JSON input" || (int(se.Offset) >= len(b) && strings.HasPrefix(msg, "invalid character ' '")) {
			return &Error{Reason: RejectTruncated, Offset: int(se.Offset), Msg: msg}
		}
		return &Error{Reason: RejectInvalidJSON, Offset: int(se.Offset) - 1, Msg: se.Error()}
	}
	reason := RejectInvalidJSON
	if looksTruncated(b) {
		reason = RejectTruncated
	}
	return &Error{Reason: reason, Offset: -1, Msg: shortErr(err)}
}

// finish decodes the derived fields shared by every parsing path.
func finish(r *Record) error {
	r.Result = ParseResult(r.FallbackResult)
	// An unknown flag code does not cost the record: the set keeps the known ones.
	r.Flags, _ = ParseFlags(r.ResponseFlags)
	// SplitPath validates the elements it returns; upstream_cluster and
	// fallback_final_cluster_name usually repeat one of them and then need no second look.
	var pathErr error
	r.Clusters, pathErr = SplitPath(r.FallbackPath, r.Clusters)
	if r.UpstreamCluster != nil && !isOneOf(r.UpstreamCluster, r.Clusters) {
		if _, err := SplitCluster(r.UpstreamCluster); err != nil {
			return &Error{Reason: RejectBadCluster, Offset: -1, Field: "upstream_cluster", Msg: err.Error()}
		}
	}
	if r.FallbackFinalCluster != nil && !isOneOf(r.FallbackFinalCluster, r.Clusters) {
		if _, err := SplitCluster(r.FallbackFinalCluster); err != nil {
			return &Error{Reason: RejectBadCluster, Offset: -1, Field: "fallback_final_cluster_name", Msg: err.Error()}
		}
	}
	if pathErr != nil {
		return &Error{Reason: RejectBadFallbackPath, Offset: -1, Field: "fallback_path", Msg: pathErr.Error()}
	}
	return nil
}

func isOneOf(b []byte, set [][]byte) bool {
	for _, s := range set {
		if string(b) == string(s) {
			return true
		}
	}
	return false
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

// shortErr is a decoder's error message cut to 200 bytes, with control and invalid bytes
// escaped: decoders quote the input they stumbled on.
func shortErr(err error) string {
	s := err.Error()
	cut := len(s) > 200
	if cut {
		s = s[:200]
	}
	q := strconv.Quote(s)
	s = q[1 : len(q)-1]
	if cut {
		s += "…"
	}
	return s
}
