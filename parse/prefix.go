package parse

import (
	"bytes"
	"time"
)

// What tools put before a log line when they print it, recognised per line in a raw stream:
//
//   - a UTF-8 byte-order mark at the start of a file or stream;
//   - `kubectl logs --timestamps`: the kubelet's RFC 3339 time and a space;
//   - `kubectl logs --prefix`: "[pod/NAME/CONTAINER] ", written by kubectl around what the
//     kubelet sent, so with both flags the prefix comes first and the time second;
//   - stern's default template "[NAMESPACE ]POD CONTAINER [TIME ]MESSAGE", pod and container
//     (and namespace with --all-namespaces) in ANSI colours on a terminal or with --color always.
//
// Only a prefix followed by a JSON object is taken: anything else is left for the Parser to skip.

// bom is the UTF-8 encoding of U+FEFF, which some editors and Windows tools write first.
var bom = []byte("\xef\xbb\xbf")

// prefix is what a line's prefix names.
type prefix struct {
	namespace, pod, container []byte
	time                      []byte
}

// splitPrefix splits a line into a recognised prefix and the JSON object after it. It returns
// ok false, and nothing else, when the line does not start with one of the forms above.
func splitPrefix(line []byte) (p prefix, payload []byte, ok bool) {
	i := bytes.IndexByte(line, '{')
	if i < 2 || line[i-1] != ' ' {
		return prefix{}, nil, false
	}
	head, payload := line[:i-1], line[i:]
	if bytes.IndexByte(head, 0x1b) >= 0 {
		head = stripANSI(head)
	}
	fields := bytes.Split(head, []byte{' '})
	// kubectl --prefix, then perhaps --timestamps.
	if f := fields[0]; bytes.HasPrefix(f, []byte("[pod/")) && f[len(f)-1] == ']' {
		parts := bytes.Split(f[len("[pod/"):len(f)-1], []byte{'/'})
		if len(parts) != 2 || !isDNSName(parts[0], 253) || !isDNSName(parts[1], 63) {
			return prefix{}, nil, false
		}
		p.pod, p.container = parts[0], parts[1]
		fields = fields[1:]
		switch {
		case len(fields) == 0:
			return p, payload, true
		case len(fields) == 1 && isRFC3339(fields[0]):
			p.time = fields[0]
			return p, payload, true
		}
		return prefix{}, nil, false
	}
	// kubectl --timestamps alone.
	if len(fields) == 1 && isRFC3339(fields[0]) {
		p.time = fields[0]
		return p, payload, true
	}
	// stern: two or three names, then perhaps a time (RFC 3339, or "01-02 15:04:05" with
	// --timestamps=short).
	names := 0
	for names < len(fields) && names < 3 && isDNSName(fields[names], 253) && !isShortDate(fields[names]) {
		names++
	}
	rest := fields[names:]
	switch {
	case len(rest) == 0:
	case len(rest) == 1 && isRFC3339(rest[0]):
		p.time = rest[0]
	case len(rest) == 2 && isShortDate(rest[0]) && isClock(rest[1]):
		p.time = head[len(head)-len(rest[0])-1-len(rest[1]):]
	default:
		return prefix{}, nil, false
	}
	switch names {
	case 2:
		if !isDNSName(fields[1], 63) {
			return prefix{}, nil, false
		}
		p.pod, p.container = fields[0], fields[1]
	case 3:
		if !isDNSName(fields[0], 63) || !isDNSName(fields[2], 63) {
			return prefix{}, nil, false
		}
		p.namespace, p.pod, p.container = fields[0], fields[1], fields[2]
	default:
		return prefix{}, nil, false
	}
	return p, payload, true
}

// stripANSI returns b without ANSI SGR sequences (ESC '[' parameters 'm'), as stern's colours
// are written; other bytes are kept.
func stripANSI(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] == 0x1b && i+1 < len(b) && b[i+1] == '[' {
			j := i + 2
			for j < len(b) && (b[j] >= '0' && b[j] <= '9' || b[j] == ';') {
				j++
			}
			if j < len(b) && b[j] == 'm' {
				i = j
				continue
			}
		}
		out = append(out, b[i])
	}
	return out
}

// isDNSName reports whether b is a Kubernetes object name: lower-case letters, digits, '-' and
// (for subdomains, max > 63) '.', starting and ending with a letter or digit.
func isDNSName(b []byte, max int) bool {
	if len(b) == 0 || len(b) > max {
		return false
	}
	for i, c := range b {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case (c == '-' || c == '.' && max > 63) && i > 0 && i < len(b)-1:
		default:
			return false
		}
	}
	return true
}

// isRFC3339 reports whether b is an RFC 3339 time as the kubelet (time.RFC3339Nano) and stern
// write it.
func isRFC3339(b []byte) bool {
	if len(b) < len("2006-01-02T15:04:05Z") || b[4] != '-' || b[10] != 'T' {
		return false
	}
	_, err := time.Parse(time.RFC3339Nano, string(b))
	return err == nil
}

// isShortDate and isClock recognise stern's --timestamps=short "01-02 15:04:05".
func isShortDate(b []byte) bool {
	return len(b) == 5 && isDigits(b[:2]) && b[2] == '-' && isDigits(b[3:])
}

func isClock(b []byte) bool {
	return len(b) == 8 && isDigits(b[:2]) && b[2] == ':' && isDigits(b[3:5]) && b[5] == ':' && isDigits(b[6:])
}

func isDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(b) > 0
}

// unprefix strips a recognised prefix and keeps what it names in the Framer's metadata.
func (f *Framer) unprefix(line []byte) ([]byte, bool) {
	p, payload, ok := splitPrefix(line)
	if !ok {
		return line, false
	}
	f.meta.Namespace = f.names.get(0, p.namespace)
	f.meta.Pod = f.names.get(1, p.pod)
	f.meta.Container = f.names.get(2, p.container)
	f.time = p.time
	return payload, true
}

// nameCache keeps the last namespace, pod and container strings, so that a stream of lines from
// the same pod does not allocate them again.
type nameCache [3]string

func (c *nameCache) get(i int, b []byte) string {
	if string(b) != c[i] {
		c[i] = string(b)
	}
	return c[i]
}
