// Package pipeline is what every source of `collector run` feeds: it frames lines (raw, CRI,
// docker, Kafka envelopes), parses records, checks them against the routing configuration when
// one is loaded, counts them in an aggregate.Counters, and keeps the pipeline's own metrics
// (lines and bytes read, records accepted, lines rejected and skipped by reason).
//
// A Pipeline is shared; each input stream (a file, standard input, a Kafka partition) gets its
// own Stream, which holds the framing state and the routing checker of that stream and is not
// safe for concurrent use. The routing configuration can be replaced while streams run (SIGHUP);
// streams pick the new one up at their next line.
package pipeline

import (
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/fallbackwatch/fallbackwatch/aggregate"
	"github.com/fallbackwatch/fallbackwatch/parse"
	"github.com/fallbackwatch/fallbackwatch/routing"
	"github.com/prometheus/client_golang/prometheus"
)

// Source names, the `source` label of the pipeline metrics.
const (
	SourceFile  = "file"
	SourceStdin = "stdin"
	SourceKafka = "kafka"
)

// Config wires a Pipeline.
type Config struct {
	Counters      *aggregate.Counters // required
	Routing       *routing.Config     // nil: no checks
	Check         routing.CheckOptions
	Format        parse.Format // FormatAuto detects per stream
	EnvelopeField string       // for Kafka messages wrapping the line in a JSON field
	MaxLineBytes  int          // 0: parse.DefaultMaxLine
	Registerer    prometheus.Registerer
	Logger        *slog.Logger
}

// Pipeline holds what streams share.
type Pipeline struct {
	cfg     Config
	routing atomic.Pointer[routingGen]
	log     *slog.Logger

	linesRead *prometheus.CounterVec
	bytesRead *prometheus.CounterVec
	accepted  *prometheus.CounterVec
	rejected  *prometheus.CounterVec
	skipped   *prometheus.CounterVec
	ready     *prometheus.GaugeVec
}

// routingGen is one loaded routing configuration; streams rebuild their checker when it changes.
type routingGen struct {
	cfg *routing.Config
}

// New returns a Pipeline and registers its metrics.
func New(cfg Config) (*Pipeline, error) {
	if cfg.Counters == nil {
		return nil, errors.New("pipeline: no counters")
	}
	if cfg.MaxLineBytes <= 0 {
		cfg.MaxLineBytes = parse.DefaultMaxLine
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	p := &Pipeline{cfg: cfg, log: cfg.Logger,
		linesRead: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "fallbackwatch_lines_read_total",
			Help: "Lines read, whatever became of them."}, []string{"source"}),
		bytesRead: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "fallbackwatch_bytes_read_total",
			Help: "Bytes read, newlines included."}, []string{"source"}),
		accepted: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "fallbackwatch_records_accepted_total",
			Help: "Access-log records parsed and counted."}, []string{"source"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "fallbackwatch_lines_rejected_total",
			Help: "Lines that looked like access-log records but could not be used, by reason."}, []string{"source", "reason"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "fallbackwatch_lines_skipped_total",
			Help: "Lines that are not access-log records (Envoy's text log, blank lines), by reason."}, []string{"source", "reason"}),
		ready: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "fallbackwatch_source_ready",
			Help: "1 when the source is open and reading."}, []string{"source"}),
	}
	p.SetRouting(cfg.Routing)
	if cfg.Registerer != nil {
		for _, c := range []prometheus.Collector{p.linesRead, p.bytesRead, p.accepted, p.rejected, p.skipped, aggregate.NewCollector(cfg.Counters)} {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, err
			}
		}
		if err := cfg.Registerer.Register(p.ready); err != nil {
			are, ok := err.(prometheus.AlreadyRegisteredError)
			if !ok {
				return nil, err
			}
			p.ready = are.ExistingCollector.(*prometheus.GaugeVec)
		}
	}
	return p, nil
}

// SetRouting replaces the routing configuration; nil turns checks off.
func (p *Pipeline) SetRouting(cfg *routing.Config) {
	p.routing.Store(&routingGen{cfg: cfg})
}

// Routing returns the routing configuration in use, nil when there is none.
func (p *Pipeline) Routing() *routing.Config { return p.routing.Load().cfg }

// SetReady sets fallbackwatch_source_ready for a source.
func (p *Pipeline) SetReady(source string, ready bool) {
	v := 0.0
	if ready {
		v = 1
	}
	p.ready.WithLabelValues(source).Set(v)
}

// Stream is one input stream's state. Not safe for concurrent use.
type Stream struct {
	p        *Pipeline
	source   string
	src      aggregate.Source
	framer   *parse.Framer
	parser   parse.Parser
	rec      parse.Record
	times    parse.TimeDecoder
	gen      *routingGen
	checker  *routing.Checker
	route    *routing.Route // the last route seen, and its label as bytes
	label    []byte
	lines    prometheus.Counter
	bytes    prometheus.Counter
	accepted prometheus.Counter
}

// NewStream returns a Stream for one input. src names the sidecar when the input tells it
// (a Kubernetes log path); for Kafka, envelopes may name it per message.
func (p *Pipeline) NewStream(source string, src aggregate.Source) *Stream {
	return &Stream{
		p: p, source: source, src: src,
		framer:   parse.NewFramer(parse.Options{Format: p.cfg.Format, MaxLine: p.cfg.MaxLineBytes, EnvelopeField: p.cfg.EnvelopeField}),
		lines:    p.linesRead.WithLabelValues(source),
		bytes:    p.bytesRead.WithLabelValues(source),
		accepted: p.accepted.WithLabelValues(source),
	}
}

// Line takes one line without its newline. It reports whether the position after the line is a
// safe resume point: false while a CRI partial record is held.
func (s *Stream) Line(line []byte) (safe bool) {
	s.lines.Inc()
	s.bytes.Add(float64(len(line) + 1))
	payload, ok, err := s.framer.Frame(line)
	if err == nil && !ok {
		// A fragment was held, or the last fragment of a line dropped for being over the cap
		// arrived: only the former leaves something pending.
		return !s.framer.Pending()
	}
	if err == nil {
		err = s.parser.Parse(payload, &s.rec)
	}
	if err != nil {
		s.fail(err)
		return !s.framer.Pending()
	}
	s.accepted.Inc()
	src := s.src
	if m := s.framer.Meta(); m.Namespace != "" || m.Pod != "" {
		src = aggregate.Source{Namespace: m.Namespace, Workload: parse.WorkloadFromPod(m.Pod)}
	}
	var route []byte
	if g := s.p.routing.Load(); g.cfg != nil {
		if s.gen != g {
			s.gen, s.checker = g, routing.NewChecker(g.cfg, s.p.cfg.Check)
		}
		at, terr := s.times.Decode(s.rec.StartTime)
		if terr != nil {
			at = time.Time{}
		}
		v := s.checker.Check(&s.rec, at)
		s.p.cfg.Counters.ObserveVerdict(v.Kind.String(), ruleLabel(v.Rule))
		if v.Route != nil {
			if v.Route != s.route {
				s.route, s.label = v.Route, []byte(v.Route.Label())
			}
			route = s.label
		}
		if v.Kind == routing.Inconsistent {
			s.p.log.Debug("record contradicts the routing configuration", "rule", v.Rule, "message", v.Message)
		}
	}
	s.p.cfg.Counters.Observe(&s.rec, route, src)
	return !s.framer.Pending()
}

func ruleLabel(r string) string {
	if r == "" {
		return "none"
	}
	return r
}

// End ends the stream's input (a self-contained Kafka message, a fragment chain given up): a
// partial line still held is counted as rejected (parse.RejectUnterminated), and framing starts
// afresh, detecting the format again.
func (s *Stream) End() {
	if err := s.framer.End(); err != nil {
		s.fail(err)
	}
}

// TooLong counts a line that was over the cap and skipped by the reader.
func (s *Stream) TooLong() {
	s.lines.Inc()
	s.p.rejected.WithLabelValues(s.source, string(parse.RejectTooLong)).Inc()
}

func (s *Stream) fail(err error) {
	var pe *parse.Error
	if errors.As(err, &pe) && pe.Reason.Skipped() {
		s.p.skipped.WithLabelValues(s.source, string(pe.Reason)).Inc()
		return
	}
	reason := string(parse.RejectInvalidJSON)
	if pe != nil {
		reason = string(pe.Reason)
	}
	s.p.rejected.WithLabelValues(s.source, reason).Inc()
}
