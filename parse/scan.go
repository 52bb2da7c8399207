package parse

import (
	"encoding/binary"
	"math/bits"
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
	return "\"" + string(b[i:end]) + "\""
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(b []byte, i int) int {
	for i < len(b) && b[i] <= ' ' && isSpace(b[i]) {
		i++
	}
	return i
}

// keyOrder remembers the keys of a recent record, in order, so that the next record of the same
// shape is matched by comparing bytes instead of scanning and looking up each key.
type keyOrder struct {
	buf   []byte    // the keys, each followed by its closing '"'
	slots []keySlot // one per key
}

type keySlot struct {
	end int32 // of the key (after its '"') in buf
	f   field
}

const (
	numOrders    = 8   // key orders remembered, for streams mixing several proxies' formats
	maxOrderKeys = 128 // keys remembered per order
	maxOrderKey  = 256 // longest key remembered, in bytes
)

// pickOrder returns the remembered order whose first key starts b[i:], else a recycled one.
func (p *Parser) pickOrder(b []byte, i int) *keyOrder {
	for k := range p.orders {
		o := &p.orders[k]
		if len(o.slots) > 0 && hasAt(b, i, o.buf[:o.slots[0].end]) {
			return o
		}
	}
	o := &p.orders[p.victim]
	p.victim = (p.victim + 1) % numOrders
	o.buf, o.slots = o.buf[:0], o.slots[:0]
	return o
}

func hasAt(b []byte, i int, s []byte) bool {
	return len(b)-i >= len(s) && string(b[i:i+len(s)]) == string(s)
}

// scanObject extracts r's fields from the JSON object b (b[0] == '{', no trailing white space).
// It reports whether any access-log key was present.
func (p *Parser) scanObject(b []byte, r *Record) (bool, *Error) {
	found := false
	i := skipSpace(b, 1)
	if i >= len(b) {
		return false, truncated(i)
	}
	if b[i] == '}' {
		i++
	} else {
		var order *keyOrder
		if len(b) > i+1 {
			order = p.pickOrder(b, i+1)
		}
		for k := 0; ; k++ {
			if b[i] != '"' {
				return false, invalid(b, i, "want a string key")
			}
			var f field
			var end int
			var err *Error
			if order != nil && k < len(order.slots) {
				start := int32(0)
				if k > 0 {
					start = order.slots[k-1].end
				}
				slot := order.slots[k]
				if key := order.buf[start:slot.end]; hasAt(b, i+1, key) {
					f, end = slot.f, i+len(key)
					goto value
				}
				// A different shape from here on: forget the rest and learn this record's keys.
				order.buf, order.slots = order.buf[:start], order.slots[:k]
			}
			{
				var esc bool
				end, esc, err = scanString(b, i+1)
				if err != nil {
					return false, err
				}
				if esc {
					return false, errDecline
				}
				f = lookupField(b[i+1 : end])
				if order != nil && k == len(order.slots) && k < maxOrderKeys && end-i <= maxOrderKey {
					order.buf = append(order.buf, b[i+1:end+1]...)
					order.slots = append(order.slots, keySlot{end: int32(len(order.buf)), f: f})
				}
			}
		value:
			if i = end + 1; i < len(b) && b[i] == ':' {
				i++
			} else {
				i = skipSpace(b, i)
				if i >= len(b) {
					return false, truncated(i)
				}
				if b[i] != ':' {
					return false, invalid(b, i, "want ':' after a key")
				}
				i++
			}
			i = skipSpace(b, i)
			if i >= len(b) {
				return false, truncated(i)
			}
			if f == fNone {
				if b[i] == '"' {
					if i, _, err = scanString(b, i+1); err == nil {
						i++
					}
				} else {
					i, err = skipValue(b, i, 1)
				}
			} else {
				found = found || accessLogField[f]
				i, err = p.scanField(b, i, f, r)
			}
			if err != nil {
				return false, err
			}
			i = skipSpace(b, i)
			if i >= len(b) {
				return false, truncated(i)
			}
			if b[i] == ',' {
				i = skipSpace(b, i+1)
				if i >= len(b) {
					return false, truncated(i)
				}
				continue
			}
			if b[i] == '}' {
				i++
				if order != nil && k+1 < len(order.slots) {
					order.buf, order.slots = order.buf[:order.slots[k].end], order.slots[:k+1]
				}
				break
			}
			return false, invalid(b, i, "want ',' or '}' after an object member")
		}
	}
	if i != len(b) {
		return false, &Error{Reason: RejectInvalidJSON, Offset: i, Msg: "data after the object at " + quoteAt(b, i)}
	}
	return found, nil
}

// scanField reads the value of a wanted key at b[i] into r and returns the index after it.
func (p *Parser) scanField(b []byte, i int, f field, r *Record) (int, *Error) {
	switch c := b[i]; {
	case c == '"':
		end, esc, err := scanString(b, i+1)
		if err != nil {
			return 0, err
		}
		v := b[i+1 : end : end]
		if esc {
			v = p.unescape(v)
		}
		missing := len(v) == 0 || (len(v) == 1 && v[0] == '-')
		if f >= fResponseCode {
			n, ok := parseInt(v)
			if !missing && !ok {
				return 0, errDecline // wrong type, unless a later duplicate key wins
			}
			r.setInt(f, n, missing)
		} else if missing {
			*r.stringField(f) = nil
		} else {
			*r.stringField(f) = v
		}
		return end + 1, nil
	case c == '-' || (c >= '0' && c <= '9'):
		end, isInt, err := scanNumber(b, i)
		if err != nil {
			return 0, err
		}
		v := b[i:end:end]
		if f >= fResponseCode {
			n, ok := parseInt(v)
			if !isInt || !ok {
				return 0, errDecline
			}
			r.setInt(f, n, false)
		} else {
			*r.stringField(f) = v
		}
		return end, nil
	case c == 'n':
		end, err := scanLiteral(b, i, "null")
		if err != nil {
			return 0, err
		}
		if f >= fResponseCode {
			r.setInt(f, 0, true)
		} else {
			*r.stringField(f) = nil
		}
		return end, nil
	}
	// true, false, an object or an array: the wrong type. Validate first so that invalid JSON
	// is reported as such, then let the general decoder decide (a later duplicate may win).
	if _, err := skipValue(b, i, 1); err != nil {
		return 0, err
	}
	return 0, errDecline
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
	q := x ^ (lsb * '"')
	s := x ^ (lsb * '\\')
	return (((q - lsb) &^ q) | ((s - lsb) &^ s) | (x - lsb*0x20) | x) & msb
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
