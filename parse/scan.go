package parse

import (
	"encoding/binary"
	"math/bits"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// This file holds the fast path: a single-pass, field-selective JSON scanner. It validates the
// whole object as strictly as encoding/json and sonic do (structure, number grammar, escapes,
// control characters and UTF-8 inside strings), copies nothing unless a wanted string contains
// escapes, and declines (errDecline) the rare shapes it leaves to sonic: keys with escapes, a
// wanted key holding a value of the wrong type (so that duplicate keys resolve as "last wins"
// exactly like sonic and encoding/json) and nesting deeper than maxDepth.

// field numbers the keys the scanner extracts.
type field uint8

const (
	fNone field = iota
	fFallbackPath
	fFallbackFinal
	fFallbackResult
	fUpstreamCluster
	fResponseFlags
	fRouteName
	fAuthority
	fMethod
	fPath
	fStartTime
	fUpstreamHost
	fRequestID
	fProtocol
	fResponseCode // numeric fields from here on
	fDuration
	numFields
)

// accessLogField marks the keys whose presence makes an object an access-log record.
var accessLogField = [numFields]bool{
	fUpstreamCluster: true, fResponseCode: true, fFallbackResult: true, fRouteName: true, fStartTime: true,
}

var fieldKeys = [numFields]string{
	fFallbackPath:    "fallback_path",
	fFallbackFinal:   "fallback_final_cluster_name",
	fFallbackResult:  "fallback_result",
	fUpstreamCluster: "upstream_cluster",
	fResponseFlags:   "response_flags",
	fRouteName:       "route_name",
	fAuthority:       "authority",
	fMethod:          "method",
	fPath:            "path",
	fStartTime:       "start_time",
	fUpstreamHost:    "upstream_host",
	fRequestID:       "request_id",
	fProtocol:        "protocol",
	fResponseCode:    "response_code",
	fDuration:        "duration",
}

func lookupField(key []byte) field {
	switch string(key) {
	case "fallback_path":
		return fFallbackPath
	case "fallback_final_cluster_name":
		return fFallbackFinal
	case "fallback_result":
		return fFallbackResult
	case "upstream_cluster":
		return fUpstreamCluster
	case "response_flags":
		return fResponseFlags
	case "route_name":
		return fRouteName
	case "authority":
		return fAuthority
	case "method":
		return fMethod
	case "path":
		return fPath
	case "start_time":
		return fStartTime
	case "upstream_host":
		return fUpstreamHost
	case "request_id":
		return fRequestID
	case "protocol":
		return fProtocol
	case "response_code":
		return fResponseCode
	case "duration":
		return fDuration
	}
	return fNone
}

// stringField returns the Record field a string key is stored in.
func (r *Record) stringField(f field) *[]byte {
	switch f {
	case fFallbackPath:
		return &r.FallbackPath
	case fFallbackFinal:
		return &r.FallbackFinalCluster
	case fFallbackResult:
		return &r.FallbackResult
	case fUpstreamCluster:
		return &r.UpstreamCluster
	case fResponseFlags:
		return &r.ResponseFlags
	case fRouteName:
		return &r.RouteName
	case fAuthority:
		return &r.Authority
	case fMethod:
		return &r.Method
	case fPath:
		return &r.Path
	case fStartTime:
		return &r.StartTime
	case fUpstreamHost:
		return &r.UpstreamHost
	case fRequestID:
		return &r.RequestID
	case fProtocol:
		return &r.Protocol
	}
	panic("parse: not a string field")
}

// setInt stores a numeric field; missing sets the field's missing value (R19).
func (r *Record) setInt(f field, n int64, missing bool) {
	switch f {
	case fResponseCode:
		if missing {
			n = 0
		}
		r.ResponseCode = int(n)
	case fDuration:
		if missing {
			n = -1
		}
		r.Duration = n
	}
}

// errDecline tells Parse to hand the line to the general decoder. It never leaves the package.
var errDecline = &Error{Reason: "decline", Offset: -1}

// maxDepth bounds the nesting the scanner follows itself; deeper values go to sonic.
const maxDepth = 64

func truncated(at int) *Error {
	return &Error{Reason: RejectTruncated, Offset: at, Msg: "unexpected end of JSON input"}
}

func invalid(b []byte, at int, what string) *Error {
	if at >= len(b) {
		return truncated(at)
	}
	return &Error{Reason: RejectInvalidJSON, Offset: at, Msg: what + " at " + quoteAt(b, at)}
}

// quoteAt quotes a few bytes of b starting at i for an error message.
func quoteAt(b []byte, i int) string {
	end := min(i+16, len(b))
	return strconv.Quote(string(b[i:end]))
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(b []byte, i int) int {
	for i < len(b) && b[i] <= ' ' && isSpace(b[i]) {
		i++
	}
	return i
}

// keyOrder remembers the shape of a recent record so that the next record of the same shape is
// matched by comparing words instead of scanning separators and looking up each key. For each
// member it keeps the "gap": the bytes from the end of the previous value (or from after '{') to
// the start of this member's value, e.g. `,"upstream_cluster":`. A gap holds only white space,
// at most one ',', the key (validated, without escapes) and the ':', so a record that repeats it
// byte for byte has the same structure there and the same key.
type keyOrder struct {
	gaps  []byte    // the gaps, back to back
	slots []keySlot // one per member
}

// keySlot describes one gap: the first gapWords words of it, zero-padded, with the masks of its
// bytes, and where the whole gap is in keyOrder.gaps.
type keySlot struct {
	w, m   [gapWords]uint64
	off, n int
	f      field
}

const (
	numOrders    = 8   // key orders remembered, for streams mixing several proxies' formats
	maxOrderKeys = 128 // members remembered per order
	maxOrderGap  = 256 // longest gap remembered, in bytes
	gapWords     = 4   // words of a gap compared at once
	gapBytes     = 8 * gapWords
)

func le64(b []byte) uint64 { return binary.LittleEndian.Uint64(b) }

// add appends the gap g of a member with key field f.
func (o *keyOrder) add(g []byte, f field) {
	s := keySlot{off: len(o.gaps), n: len(g), f: f}
	o.gaps = append(o.gaps, g...)
	var word, mask [gapBytes]byte
	copy(word[:], g)
	for k := range min(gapBytes, len(g)) {
		mask[k] = 0xff
	}
	for k := range gapWords {
		s.w[k], s.m[k] = le64(word[8*k:]), le64(mask[8*k:])
	}
	o.slots = append(o.slots, s)
}

// truncate forgets the members from the k-th on.
func (o *keyOrder) truncate(k int) {
	if k < len(o.slots) {
		o.gaps, o.slots = o.gaps[:o.slots[k].off], o.slots[:k]
	}
}

// match reports whether b[i:] starts with the gap of s.
func (o *keyOrder) match(b []byte, i int, s *keySlot) bool {
	if len(b)-i >= gapBytes {
		bb := b[i : i+gapBytes]
		d := (le64(bb[0:8])^s.w[0])&s.m[0] | (le64(bb[8:16])^s.w[1])&s.m[1] |
			(le64(bb[16:24])^s.w[2])&s.m[2] | (le64(bb[24:32])^s.w[3])&s.m[3]
		if d != 0 {
			return false
		}
		if s.n <= gapBytes {
			return true
		}
	}
	return len(b)-i >= s.n && string(b[i:i+s.n]) == string(o.gaps[s.off:s.off+s.n])
}

// pickOrder returns the remembered order whose first gap starts b[i:], else a recycled one.
func (p *Parser) pickOrder(b []byte, i int) *keyOrder {
	for k := range p.orders {
		o := &p.orders[k]
		if len(o.slots) > 0 && o.match(b, i, &o.slots[0]) {
			return o
		}
	}
	o := &p.orders[p.victim]
	p.victim = (p.victim + 1) % numOrders
	o.truncate(0)
	return o
}

// span locates the value of a key in the line.
type span struct {
	start, end int32 // the value's text, b[start:end], without the quotes of a string
	kind       valueKind
}

// valueKind says what sort of JSON value a span holds.
type valueKind uint8

const (
	vAbsent  valueKind = iota
	vString            // a string without escapes
	vEscaped           // a string with escapes
	vInt               // a JSON integer
	vNumber            // a JSON number with a fraction or an exponent
	vNull
)

// spans holds a span per field; spans[fNone] collects the values of unwanted keys. Its size is
// a power of two so that indexing with f&(len-1) needs no bounds check.
type spans [16]span

// maxScanLen is the longest object scanObject handles (spans hold int32 offsets).
const maxScanLen = 1<<31 - 1

// scanObject extracts r's fields from the JSON object b (b[0] == '{', no trailing white space).
// It reports whether any access-log key was present.
func (p *Parser) scanObject(b []byte, r *Record) (bool, *Error) {
	if len(b) > maxScanLen {
		return false, errDecline
	}
	var vals spans
	order := p.pickOrder(b, 1)
	i := 1
	for k := 0; ; k++ {
		// b[i] follows '{' or the previous member's value. The common case, a member whose gap
		// the order predicts and whose value is a string of printable ASCII, runs without calls.
		var f field
		s := order.slot(k)
		hit := false
		if s != nil && s.n <= gapBytes && i <= len(b)-gapBytes {
			g := (*[gapBytes]byte)(b[i : i+gapBytes])
			hit = (le64(g[0:8])^s.w[0])&s.m[0]|(le64(g[8:16])^s.w[1])&s.m[1]|
				(le64(g[16:24])^s.w[2])&s.m[2]|(le64(g[24:32])^s.w[3])&s.m[3] == 0
		}
		if hit {
			f, i = s.f, i+s.n
		} else if s != nil && order.match(b, i, s) {
			f, i = s.f, i+s.n
		} else {
			var err *Error
			var end bool
			if f, i, end, err = p.learn(b, i, order, k); err != nil {
				return false, err
			}
			if end {
				break
			}
		}
		if i >= len(b) {
			return false, truncated(i)
		}
		c := b[i]
		if c <= ' ' {
			if i = skipSpace(b, i); i >= len(b) {
				return false, truncated(i)
			}
			c = b[i]
		}
		if c != '"' {
			var err *Error
			if i, err = scanNonString(b, i, f, &vals); err != nil {
				return false, err
			}
			continue
		}
		// A string: its first special byte, usually the closing quote.
		j := stringEnd(b, i+1)
		kind := vString
		if j >= len(b) || b[j] != '"' {
			esc, err := false, (*Error)(nil)
			if j, esc, err = scanStringSlow(b, j); err != nil {
				return false, err
			}
			if esc {
				kind = vEscaped
			}
		}
		vals[f&field(len(vals)-1)] = span{start: int32(i + 1), end: int32(j), kind: kind}
		i = j + 1
	}
	if i != len(b) {
		return false, &Error{Reason: RejectInvalidJSON, Offset: i, Msg: "data after the object at " + quoteAt(b, i)}
	}
	found := vals[fUpstreamCluster].kind|vals[fResponseCode].kind|vals[fFallbackResult].kind|
		vals[fRouteName].kind|vals[fStartTime].kind != vAbsent
	return found, p.fill(b, &vals, r)
}

// slot returns the k-th slot, nil when the order ends before it.
func (o *keyOrder) slot(k int) *keySlot {
	if k < len(o.slots) {
		return &o.slots[k]
	}
	return nil
}

// learn reads the separator and key of member k at b[i] when the order did not predict them,
// records them in the order and returns the key's field and the index of its value; end says the
// object ended instead.
func (p *Parser) learn(b []byte, i int, order *keyOrder, k int) (field, int, bool, *Error) {
	// A different shape from here on: forget the rest and learn this record's gaps.
	order.truncate(k)
	gap := i
	if i = skipSpace(b, i); i >= len(b) {
		return 0, 0, false, truncated(i)
	}
	if b[i] == '}' {
		return 0, i + 1, true, nil
	}
	if k > 0 {
		if b[i] != ',' {
			return 0, 0, false, invalid(b, i, "want ',' or '}' after an object member")
		}
		if i = skipSpace(b, i+1); i >= len(b) {
			return 0, 0, false, truncated(i)
		}
	}
	if b[i] != '"' {
		return 0, 0, false, invalid(b, i, "want a string key")
	}
	end, esc, err := scanString(b, i+1)
	if err != nil {
		return 0, 0, false, err
	}
	if esc {
		return 0, 0, false, errDecline
	}
	f := lookupField(b[i+1 : end])
	if i = skipSpace(b, end+1); i >= len(b) {
		return 0, 0, false, truncated(i)
	}
	if b[i] != ':' {
		return 0, 0, false, invalid(b, i, "want ':' after a key")
	}
	if i = skipSpace(b, i+1); i >= len(b) {
		return 0, 0, false, truncated(i)
	}
	if k == len(order.slots) && k < maxOrderKeys && i-gap <= maxOrderGap {
		order.add(b[gap:i], f)
	}
	return f, i, false, nil
}

// scanNonString validates the value at b[i], not a string, records it in vals if f is wanted and
// returns the index after it.
func scanNonString(b []byte, i int, f field, vals *spans) (int, *Error) {
	var kind valueKind
	var end int
	var err *Error
	switch c := b[i]; {
	case c == '-' || (c >= '0' && c <= '9'):
		var isInt bool
		end, isInt, err = scanNumber(b, i)
		kind = vNumber
		if isInt {
			kind = vInt
		}
	case c == 'n':
		end, err = scanLiteral(b, i, "null")
		kind = vNull
	default:
		if end, err = skipValue(b, i, 1); err == nil && f != fNone {
			// true, false, an object or an array: the wrong type. Let the general decoder
			// decide (a later duplicate may win).
			return 0, errDecline
		}
	}
	if err != nil {
		return 0, err
	}
	vals[f&field(len(vals)-1)] = span{start: int32(i), end: int32(end), kind: kind}
	return end, nil
}

// fill stores the values vals locates in b into r. It declines a numeric field whose last value
// is not an integer.
func (p *Parser) fill(b []byte, vals *spans, r *Record) *Error {
	r.FallbackPath = p.text(b, vals[fFallbackPath])
	r.FallbackFinalCluster = p.text(b, vals[fFallbackFinal])
	r.FallbackResult = p.text(b, vals[fFallbackResult])
	r.UpstreamCluster = p.text(b, vals[fUpstreamCluster])
	r.ResponseFlags = p.text(b, vals[fResponseFlags])
	r.RouteName = p.text(b, vals[fRouteName])
	r.Authority = p.text(b, vals[fAuthority])
	r.Method = p.text(b, vals[fMethod])
	r.Path = p.text(b, vals[fPath])
	r.StartTime = p.text(b, vals[fStartTime])
	r.UpstreamHost = p.text(b, vals[fUpstreamHost])
	r.RequestID = p.text(b, vals[fRequestID])
	r.Protocol = p.text(b, vals[fProtocol])
	r.hasProtocol = vals[fProtocol].kind != vAbsent
	// R19 reads an absent key as missing; the format having the fallback keys at all is
	// what tells "no fallback" from "a log format without the fallback fields".
	r.FallbackFields = vals[fFallbackPath].kind|vals[fFallbackFinal].kind|vals[fFallbackResult].kind != vAbsent
	code, ok1 := p.integer(b, vals[fResponseCode])
	dur, ok2 := p.integer(b, vals[fDuration])
	if !ok1 || !ok2 {
		return errDecline // wrong type, unless an earlier duplicate key was right
	}
	r.setInt(fResponseCode, code, code == missingInt)
	r.setInt(fDuration, dur, dur == missingInt)
	return nil
}

// text returns the value of a string field: nil when missing ("-", "", null or absent), the
// text of a number as it is. (Other types were declined while scanning.)
func (p *Parser) text(b []byte, s span) []byte {
	var v []byte
	switch s.kind {
	case vString:
		v = b[s.start:s.end:s.end]
	case vEscaped:
		v = p.unescape(b[s.start:s.end])
	case vInt, vNumber:
		return b[s.start:s.end:s.end]
	default:
		return nil
	}
	if len(v) == 0 || (len(v) == 1 && v[0] == '-') {
		return nil
	}
	return v
}

// missingInt is what integer returns for a missing value.
const missingInt = -1 << 63

// integer returns the value of a numeric field, a JSON integer or a string holding one, or
// missingInt when missing ("-", "", null or absent). ok is false for the wrong type.
func (p *Parser) integer(b []byte, s span) (int64, bool) {
	var v []byte
	switch s.kind {
	case vString, vInt:
		v = b[s.start:s.end]
	case vEscaped:
		v = p.unescape(b[s.start:s.end])
	case vNumber:
		return 0, false
	default:
		return missingInt, true
	}
	if s.kind != vInt && (len(v) == 0 || (len(v) == 1 && v[0] == '-')) {
		return missingInt, true
	}
	return parseInt(v)
}

// parseInt decodes an optional '-' and 1 to 18 decimal digits.
func parseInt(b []byte) (int64, bool) {
	neg := false
	if len(b) > 0 && b[0] == '-' {
		neg, b = true, b[1:]
	}
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}

// skipValue validates the JSON value at b[i] and returns the index after it.
func skipValue(b []byte, i, depth int) (int, *Error) {
	switch c := b[i]; c {
	case '"':
		end, _, err := scanString(b, i+1)
		if err != nil {
			return 0, err
		}
		return end + 1, nil
	case '{':
		if depth >= maxDepth {
			return 0, errDecline
		}
		i = skipSpace(b, i+1)
		if i >= len(b) {
			return 0, truncated(i)
		}
		if b[i] == '}' {
			return i + 1, nil
		}
		for {
			if b[i] != '"' {
				return 0, invalid(b, i, "want a string key")
			}
			end, _, err := scanString(b, i+1)
			if err != nil {
				return 0, err
			}
			i = skipSpace(b, end+1)
			if i >= len(b) {
				return 0, truncated(i)
			}
			if b[i] != ':' {
				return 0, invalid(b, i, "want ':' after a key")
			}
			i = skipSpace(b, i+1)
			if i >= len(b) {
				return 0, truncated(i)
			}
			if i, err = skipValue(b, i, depth+1); err != nil {
				return 0, err
			}
			i = skipSpace(b, i)
			if i >= len(b) {
				return 0, truncated(i)
			}
			switch b[i] {
			case ',':
				i = skipSpace(b, i+1)
				if i >= len(b) {
					return 0, truncated(i)
				}
				continue
			case '}':
				return i + 1, nil
			}
			return 0, invalid(b, i, "want ',' or '}' after an object member")
		}
	case '[':
		if depth >= maxDepth {
			return 0, errDecline
		}
		i = skipSpace(b, i+1)
		if i >= len(b) {
			return 0, truncated(i)
		}
		if b[i] == ']' {
			return i + 1, nil
		}
		for {
			var err *Error
			if i, err = skipValue(b, i, depth+1); err != nil {
				return 0, err
			}
			i = skipSpace(b, i)
			if i >= len(b) {
				return 0, truncated(i)
			}
			switch b[i] {
			case ',':
				i = skipSpace(b, i+1)
				if i >= len(b) {
					return 0, truncated(i)
				}
				continue
			case ']':
				return i + 1, nil
			}
			return 0, invalid(b, i, "want ',' or ']' after an array element")
		}
	case 't':
		return scanLiteral(b, i, "true")
	case 'f':
		return scanLiteral(b, i, "false")
	case 'n':
		return scanLiteral(b, i, "null")
	}
	if c := b[i]; c == '-' || (c >= '0' && c <= '9') {
		end, _, err := scanNumber(b, i)
		return end, err
	}
	return 0, invalid(b, i, "want a JSON value")
}

func scanLiteral(b []byte, i int, lit string) (int, *Error) {
	for k := 0; k < len(lit); k++ {
		if i+k >= len(b) {
			return 0, truncated(i + k)
		}
		if b[i+k] != lit[k] {
			return 0, invalid(b, i, "want "+lit)
		}
	}
	return i + len(lit), nil
}

// scanNumber validates a JSON number at b[i] and returns the index after it and whether it is
// an integer (no fraction, no exponent).
func scanNumber(b []byte, i int) (int, bool, *Error) {
	start := i
	if b[i] == '-' {
		i++
	}
	if i >= len(b) {
		return 0, false, truncated(i)
	}
	switch c := b[i]; {
	case c == '0':
		i++
	case c >= '1' && c <= '9':
		i++
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		return 0, false, invalid(b, start, "want a digit in a number")
	}
	isInt := true
	if i < len(b) && b[i] == '.' {
		isInt = false
		i++
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == d {
			return 0, false, invalid(b, i, "want a digit after '.' in a number")
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		isInt = false
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == d {
			return 0, false, invalid(b, i, "want a digit in an exponent")
		}
	}
	return i, isInt, nil
}

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// specialByte marks the bytes that end the fast scan of a string: '"', '\\', control characters
// and the first byte of any non-ASCII sequence.
var specialByte = func() (t [256]bool) {
	for c := 0; c < 256; c++ {
		t[c] = c == '"' || c == '\\' || c < 0x20 || c >= 0x80
	}
	return t
}()

// scanString validates the string whose first content byte is b[i] and returns the index of its
// closing quote and whether it contains escapes.
func scanString(b []byte, i int) (int, bool, *Error) {
	// The common case inline: eight bytes at a time up to the first special byte.
	for ; i+8 <= len(b); i += 8 {
		if m := specialMask(binary.LittleEndian.Uint64(b[i:])); m != 0 {
			i += bits.TrailingZeros64(m) >> 3
			if b[i] == '"' {
				return i, false, nil
			}
			return scanStringSlow(b, i)
		}
	}
	return scanStringSlow(b, indexSpecial(b, i))
}

// specialMask flags (in the top bit of each byte) the bytes of x that are '"', '\\', below 0x20
// or above 0x7f. False positives can only follow a true one, so the lowest flag is exact.
func specialMask(x uint64) uint64 {
	// A byte below 0x80 is flagged exactly when it is below 0x20 or '"' (x^0x02 is then below
	// 0x21 and the subtraction borrows into the top bit) or '\\' (x^'\\' is 0 and 0-1 borrows);
	// any byte from 0x80 up is flagged by its own top bit. Borrows run upwards from a flagged
	// byte only.
	return (((x ^ (lsb * 0x02)) - lsb*0x21) | ((x ^ (lsb * '\\')) - lsb) | x) & msb
}

// specialConst holds the constants of specialMask in a variable, so that stringEnd keeps them in
// registers instead of rematerialising each one for every word.
var specialConst = [5]uint64{lsb * 0x02, lsb * 0x21, lsb * '\\', lsb, msb}

// stringEnd returns the index of the first byte at or after i that is '"', '\\', a control
// character or non-ASCII, or len(b): specialMask sixteen bytes at a time.
//
//go:noinline
func stringEnd(b []byte, i int) int {
	t, c, q, l, h := specialConst[0], specialConst[1], specialConst[2], specialConst[3], specialConst[4]
	for ; len(b)-i >= 16; i += 16 {
		w := (*[16]byte)(b[i:])
		x0, x1 := binary.LittleEndian.Uint64(w[0:8]), binary.LittleEndian.Uint64(w[8:16])
		y0 := ((x0 ^ t) - c) | ((x0 ^ q) - l) | x0
		y1 := ((x1 ^ t) - c) | ((x1 ^ q) - l) | x1
		if (y0|y1)&h != 0 {
			if m0 := y0 & h; m0 != 0 {
				return i + bits.TrailingZeros64(m0)>>3
			}
			return i + 8 + bits.TrailingZeros64(y1&h)>>3
		}
	}
	return indexSpecial(b, i)
}

// indexSpecial returns the index of the first byte at or after i that is '"', '\\', a control
// character or non-ASCII, or len(b).
func indexSpecial(b []byte, i int) int {
	// Eight bytes at a time. False positives can only follow a true one, so the lowest flag is
	// exact.
	for ; i+8 <= len(b); i += 8 {
		if m := specialMask(binary.LittleEndian.Uint64(b[i:])); m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
	}
	for i < len(b) && !specialByte[b[i]] {
		i++
	}
	return i
}

// scanStringSlow continues scanString at the special byte b[i].
func scanStringSlow(b []byte, i int) (int, bool, *Error) {
	esc := false
	for {
		if i >= len(b) {
			return 0, false, truncated(i)
		}
		switch c := b[i]; {
		case c == '"':
			return i, esc, nil
		case c == '\\':
			esc = true
			if i+1 >= len(b) {
				return 0, false, truncated(i + 1)
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				for k := i + 2; k < i+6; k++ {
					if k >= len(b) {
						return 0, false, truncated(k)
					}
					if unhex(b[k]) < 0 {
						return 0, false, invalid(b, i, "invalid \\u escape")
					}
				}
				i += 6
			default:
				return 0, false, invalid(b, i, "invalid escape")
			}
		case c < 0x20:
			return 0, false, invalid(b, i, "control character in a string")
		default:
			r, n := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && n == 1 {
				return 0, false, &Error{Reason: RejectInvalidUTF8, Offset: i, Msg: "invalid UTF-8 in a string"}
			}
			i += n
		}
		i = indexSpecial(b, i)
	}
}

func unhex(c byte) rune {
	switch {
	case c >= '0' && c <= '9':
		return rune(c - '0')
	case c >= 'a' && c <= 'f':
		return rune(c - 'a' + 10)
	case c >= 'A' && c <= 'F':
		return rune(c - 'A' + 10)
	}
	return -1
}

func hex4(b []byte) rune {
	return unhex(b[0])<<12 | unhex(b[1])<<8 | unhex(b[2])<<4 | unhex(b[3])
}

// unescape decodes the validated string content s into the scratch buffer, as encoding/json
// does: a lone or mismatched surrogate becomes U+FFFD.
func (p *Parser) unescape(s []byte) []byte {
	start := len(p.scratch)
	for i := 0; i < len(s); {
		c := s[i]
		if c != '\\' {
			j := i + 1
			for j < len(s) && s[j] != '\\' {
				j++
			}
			p.scratch = append(p.scratch, s[i:j]...)
			i = j
			continue
		}
		switch s[i+1] {
		case 'b':
			p.scratch = append(p.scratch, '\b')
		case 'f':
			p.scratch = append(p.scratch, '\f')
		case 'n':
			p.scratch = append(p.scratch, '\n')
		case 'r':
			p.scratch = append(p.scratch, '\r')
		case 't':
			p.scratch = append(p.scratch, '\t')
		case 'u':
			r := hex4(s[i+2:])
			i += 6
			if utf16.IsSurrogate(r) {
				r2 := utf8.RuneError
				if i+6 <= len(s) && s[i] == '\\' && s[i+1] == 'u' {
					r2 = hex4(s[i+2:])
				}
				if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
					r = dec
					i += 6
				} else {
					r = utf8.RuneError
				}
			}
			p.scratch = utf8.AppendRune(p.scratch, r)
			continue
		default: // '"', '\\', '/'
			p.scratch = append(p.scratch, s[i+1])
		}
		i += 2
	}
	return p.scratch[start:len(p.scratch):len(p.scratch)]
}
