package parse

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/bytedance/sonic"
	"github.com/bytedance/sonic/ast"
)

// Format is the framing of a container log stream.
type Format uint8

const (
	// FormatAuto detects the format from the stream's first decisive line and keeps it.
	FormatAuto Format = iota
	// FormatRaw is one JSON object per line, as `kubectl logs` prints, also behind the prefixes
	// that `kubectl logs --prefix/--timestamps` and stern write (recognised per line).
	FormatRaw
	// FormatCRI is containerd/CRI-O: `<RFC 3339 time> <stdout|stderr> <P|F> <message>`.
	FormatCRI
	// FormatDocker is docker's json-file: {"log":"<line>\n","stream":"stdout","time":"..."}.
	FormatDocker
)

var formatNames = [...]string{"auto", "raw", "cri", "docker"}

// String returns auto, raw, cri or docker.
func (f Format) String() string {
	if int(f) < len(formatNames) {
		return formatNames[f]
	}
	return fmt.Sprintf("Format(%d)", uint8(f))
}

// ParseFormat decodes auto, raw, cri or docker.
func ParseFormat(s string) (Format, error) {
	for i, n := range formatNames {
		if strings.EqualFold(s, n) {
			return Format(i), nil
		}
	}
	return 0, fmt.Errorf("unknown log format %q: want auto, raw, cri or docker", s)
}

// Options configure a Framer or a Stream.
type Options struct {
	// Format of the stream; FormatAuto detects it.
	Format Format
	// MaxLine caps a physical line and a reassembled partial line; DefaultMaxLine when <= 0.
	MaxLine int
	// EnvelopeField, when set, names the field of a JSON envelope that holds the log line, as in
	// Kafka messages written by Fluent Bit ({"log":"...","kubernetes":{...}}). The line found
	// there is then framed per Format.
	EnvelopeField string
}

// Meta describes where the last payload came from; fields the framing does not carry are empty.
type Meta struct {
	Stream    string // stdout or stderr (CRI and docker)
	Time      string // the runtime's timestamp of the last fragment (CRI and docker)
	Namespace string // from an envelope's kubernetes.namespace_name
	Pod       string // from an envelope's kubernetes.pod_name
	Container string // from an envelope's kubernetes.container_name
}

// Framer turns the lines of one stream into JSON payloads: it detects and unwraps the container
// runtime's format and reassembles partial lines per output stream (stdout, stderr) up to the
// cap. Give each stream (a file; in Kafka, each producer) its own Framer. Not safe for
// concurrent use.
type Framer struct {
	opts     Options
	format   Format // detected or configured
	partial  [2][]byte
	dropping [2]bool // a partial line went over the cap: drop fragments until its end
	inner    []byte
	meta     Meta
	time     []byte // the runtime's timestamp of the last fragment; Meta copies it
	names    nameCache
}

// NewFramer returns a Framer for opts.
func NewFramer(opts Options) *Framer {
	if opts.MaxLine <= 0 {
		opts.MaxLine = DefaultMaxLine
	}
	return &Framer{opts: opts, format: opts.Format}
}

// Format returns the configured format, or the detected one (FormatAuto until a line decides).
func (f *Framer) Format() Format { return f.format }

// Pending reports whether the Framer holds an unfinished partial line. Positions in the input
// where Pending is false are safe checkpoints.
func (f *Framer) Pending() bool {
	return len(f.partial[0]) > 0 || len(f.partial[1]) > 0 || f.dropping[0] || f.dropping[1]
}

// Meta describes the last payload.
func (f *Framer) Meta() Meta {
	m := f.meta
	if len(f.time) > 0 {
		m.Time = string(f.time)
	}
	return m
}

// Reset forgets partial lines and the detected format.
func (f *Framer) Reset() {
	*f = Framer{opts: f.opts, format: f.opts.Format, partial: [2][]byte{f.partial[0][:0], f.partial[1][:0]}, inner: f.inner, names: f.names}
}

// End tells the Framer that its input is over, e.g. at the end of a self-contained Kafka
// message: a partial line still held can never be completed. End returns an *Error with
// RejectUnterminated when one was held (a line over the cap that was already reported is not
// reported again), and then forgets everything as Reset does, so the next input's format is
// detected afresh.
func (f *Framer) End() error {
	var err error
	for s, held := range f.partial {
		if len(held) > 0 {
			err = &Error{Reason: RejectUnterminated, Offset: -1,
				Msg: fmt.Sprintf("%s partial line of %d bytes without its final fragment", streamNames[s], len(held))}
			break
		}
	}
	f.Reset()
	return err
}

// Frame takes one line (without its newline). It returns the JSON payload and true when the line
// completes one, false when it was a partial fragment that is now held, or an *Error with
// RejectBadEnvelope or RejectPartialOverflow. A payload borrows from line or from the Framer and
// is valid until the next Frame call. Lines that are not a runtime's framing (blank lines, Envoy's
// text log in a raw stream) are passed through as payloads for the Parser to skip.
func (f *Framer) Frame(line []byte) ([]byte, bool, error) {
	f.meta, f.time = Meta{}, f.time[:0]
	line = bytes.TrimPrefix(line, bom)
	if f.opts.EnvelopeField != "" {
		inner, err := f.envelope(line)
		if err != nil {
			return nil, false, err
		}
		line = inner
	}
	switch f.format {
	case FormatRaw:
		if len(line) > 0 && line[0] != '{' {
			line, _ = f.unprefix(line)
		}
		return line, true, nil
	case FormatCRI:
		return f.cri(line)
	case FormatDocker:
		if len(trimSpace(line)) == 0 {
			return line, true, nil
		}
		return f.docker(line)
	}
	// Auto: the first line that shows its framing decides.
	switch {
	case bytes.HasPrefix(line, []byte(`{"log":`)) && f.opts.EnvelopeField == "":
		f.format = FormatDocker
		return f.docker(line)
	case len(line) > 0 && line[0] == '{':
		f.format = FormatRaw
		return line, true, nil
	}
	if _, _, _, _, ok := splitCRI(line); ok {
		f.format = FormatCRI
		return f.cri(line)
	}
	if payload, ok := f.unprefix(line); ok {
		f.format = FormatRaw
		return payload, true, nil
	}
	return line, true, nil
}

// splitCRI splits `<time> <stream> <tags> <message>`; tags start with P or F.
func splitCRI(line []byte) (ts []byte, stream int, partial bool, msg []byte, ok bool) {
	i := bytes.IndexByte(line, ' ')
	if i < 10 || line[0] < '0' || line[0] > '9' {
		return nil, 0, false, nil, false
	}
	ts, rest := line[:i], line[i+1:]
	switch {
	case bytes.HasPrefix(rest, []byte("stdout ")):
		stream = 0
	case bytes.HasPrefix(rest, []byte("stderr ")):
		stream = 1
	default:
		return nil, 0, false, nil, false
	}
	rest = rest[len("stdout "):]
	tags := rest
	if j := bytes.IndexByte(rest, ' '); j >= 0 {
		tags, msg = rest[:j], rest[j+1:]
	} else {
		msg = rest[len(rest):]
	}
	if k := bytes.IndexByte(tags, ':'); k >= 0 {
		tags = tags[:k]
	}
	switch string(tags) {
	case "F":
	case "P":
		partial = true
	default:
		return nil, 0, false, nil, false
	}
	return ts, stream, partial, msg, true
}

var streamNames = [2]string{"stdout", "stderr"}

func (f *Framer) cri(line []byte) ([]byte, bool, error) {
	ts, stream, partial, msg, ok := splitCRI(line)
	if !ok {
		if len(trimSpace(line)) == 0 {
			return line, true, nil
		}
		return nil, false, &Error{Reason: RejectBadEnvelope, Offset: 0, Msg: "not a CRI log line: " + quoteAt(line, 0)}
	}
	f.meta.Stream, f.time = streamNames[stream], ts
	return f.assemble(stream, partial, msg)
}

// assemble adds one fragment of a stream's line.
func (f *Framer) assemble(stream int, partial bool, msg []byte) ([]byte, bool, error) {
	if f.dropping[stream] {
		if !partial {
			f.dropping[stream] = false
		}
		return nil, false, nil
	}
	held := f.partial[stream]
	if !partial && len(held) == 0 {
		return msg, true, nil
	}
	if len(held)+len(msg) > f.opts.MaxLine {
		f.partial[stream] = held[:0]
		f.dropping[stream] = partial
		return nil, false, &Error{Reason: RejectPartialOverflow, Offset: -1,
			Msg: fmt.Sprintf("%s partial line over the cap of %d bytes", streamNames[stream], f.opts.MaxLine)}
	}
	held = append(held, msg...)
	if partial {
		f.partial[stream] = held
		return nil, false, nil
	}
	f.partial[stream] = held[:0]
	return held, true, nil
}

// dockerLine is a docker json-file record.
type dockerLine struct {
	Log    string `json:"log"`
	Stream string `json:"stream"`
	Time   string `json:"time"`
}

func (f *Framer) docker(line []byte) ([]byte, bool, error) {
	var d dockerLine
	if err := sonicAPI.Unmarshal(line, &d); err != nil {
		return nil, false, &Error{Reason: RejectBadEnvelope, Offset: -1, Msg: "docker json-file line: " + shortErr(err)}
	}
	stream := 0
	if d.Stream == "stderr" {
		stream = 1
	}
	f.meta.Stream, f.meta.Time = streamNames[stream], d.Time
	// Docker ends a complete line with "\n" and splits longer ones into pieces without it.
	partial := !strings.HasSuffix(d.Log, "\n")
	msg := strings.TrimSuffix(d.Log, "\n")
	f.inner = append(f.inner[:0], msg...)
	return f.assemble(stream, partial, f.inner)
}

// envelope extracts the configured field of a JSON envelope and its kubernetes metadata.
func (f *Framer) envelope(line []byte) ([]byte, error) {
	b := trimSpace(line)
	if len(b) == 0 || b[0] != '{' {
		return line, nil // let the Parser skip it
	}
	node, err := sonic.Get(b, f.opts.EnvelopeField)
	if err != nil {
		return nil, &Error{Reason: RejectBadEnvelope, Offset: -1, Field: f.opts.EnvelopeField, Msg: "envelope field: " + shortErr(err)}
	}
	s, err := node.String()
	if err != nil || node.TypeSafe() != ast.V_STRING {
		return nil, &Error{Reason: RejectBadEnvelope, Offset: -1, Field: f.opts.EnvelopeField, Msg: "envelope field is not a string"}
	}
	f.meta = envelopeMeta(b)
	f.inner = append(f.inner[:0], strings.TrimSuffix(s, "\n")...)
	return f.inner, nil
}

// EnvelopeMeta reads where a JSON envelope's log line came from: the Kubernetes metadata that
// Fluent Bit's kubernetes filter (kubernetes.namespace_name, pod_name, container_name) and
// Vector's kubernetes_logs source (kubernetes.pod_namespace, pod_name, container_name) add, and
// the top-level "stream" both keep from the container runtime. Fields that are absent are empty;
// a line that is not a JSON object gives an empty Meta.
func EnvelopeMeta(line []byte) Meta {
	b := trimSpace(line)
	if len(b) == 0 || b[0] != '{' {
		return Meta{}
	}
	return envelopeMeta(b)
}

func envelopeMeta(b []byte) Meta {
	var m Meta
	if k, err := sonic.Get(b, "kubernetes"); err == nil {
		m.Namespace = nodeString(k.Get("namespace_name"))
		if m.Namespace == "" {
			m.Namespace = nodeString(k.Get("pod_namespace"))
		}
		m.Pod = nodeString(k.Get("pod_name"))
		m.Container = nodeString(k.Get("container_name"))
	}
	if s, err := sonic.Get(b, "stream"); err == nil {
		m.Stream = nodeString(&s)
	}
	return m
}

func nodeString(n interface{ String() (string, error) }) string {
	s, err := n.String()
	if err != nil {
		return ""
	}
	return s
}

// Fragment reports whether line is framed by a container runtime (CRI, or docker's json-file)
// and, when it is, its output stream (0 stdout, 1 stderr) and whether it is a partial fragment
// that a later line of the same stream continues. It reads only the framing, cheaply, so that an
// input can be cut where no stream has a line open.
func Fragment(line []byte) (stream int, partial, ok bool) {
	if len(line) > 0 && line[0] >= '0' && line[0] <= '9' {
		_, stream, partial, _, ok = splitCRI(line)
		return stream, partial, ok
	}
	if !bytes.HasPrefix(line, []byte(`{"log":"`)) {
		return 0, false, false
	}
	// docker writes {"log":"<text>","stream":"<stdout|stderr>","time":"<time>"}; a complete
	// line's text ends with an escaped newline.
	i := bytes.LastIndex(line, []byte(`","stream":"`))
	if i < 0 {
		return 0, false, false
	}
	if bytes.HasPrefix(line[i+len(`","stream":"`):], []byte("stderr")) {
		stream = 1
	}
	text := line[len(`{"log":"`):i]
	backslashes := 0
	for j := len(text) - 2; j >= 0 && text[j] == '\\'; j-- {
		backslashes++
	}
	complete := len(text) >= 2 && text[len(text)-1] == 'n' && backslashes%2 == 1
	return stream, !complete, true
}
