// Package pipeline is what every source of `collector run` feeds: each line goes through the
// record step (internal/record: frame, parse, time, direction, check), and the pipeline counts
// the outcome: judged records in an aggregate.Counters, verdicts, and the pipeline's own
// metrics (lines and bytes read, records accepted by direction, records missing the fallback
// fields or a start time, lines rejected and skipped by reason). A source whose lines are in a
// format fallbackwatch does not read, or whose records lack the fallback fields, is logged once
// with what to change.
//
// A Pipeline is shared; each input stream (a file, standard input, a Kafka partition) gets its
// own Stream, which holds the framing state and the routing checker of that stream and is not
// safe for concurrent use. The routing configuration can be replaced while streams run (SIGHUP);
// streams pick the new one up at their next line.
package pipeline

import (
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/fallbackwatch/fallbackwatch/aggregate"
	"github.com/fallbackwatch/fallbackwatch/internal/record"
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

	linesRead  *prometheus.CounterVec
	bytesRead  *prometheus.CounterVec
	accepted   *prometheus.CounterVec
	incomplete *prometheus.CounterVec
	badUTF8    *prometheus.CounterVec
	rejected   *prometheus.CounterVec
	skipped    *prometheus.CounterVec
	ready      *prometheus.GaugeVec

	noted sync.Map // source + "\x00" + what: logged once
}

// Values of the `missing` label of fallbackwatch_records_incomplete_total.
const (
	MissingFallbackFields = "fallback_fields" // none of ASM's fallback keys in the record
	MissingStartTime      = "start_time"      // no usable start_time: not in timelines or health
)

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
			Help: "Access-log records parsed, by the side that wrote them: outbound (client side, judged), none (no upstream cluster, judged), inbound (server side), gateway, unknown."}, []string{"source", "direction"}),
		incomplete: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "fallbackwatch_records_incomplete_total",
			Help: "Access-log records without ASM's fallback fields (missing=fallback_fields) or without a usable start_time (missing=start_time)."}, []string{"source", "missing"}),
		badUTF8: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "fallbackwatch_records_invalid_utf8_ignored_total",
			Help: "Access-log records kept although they held invalid UTF-8, in fields fallbackwatch does not read (user_agent, upstream_host, unknown keys)."}, []string{"source"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "fallbackwatch_lines_rejected_total",
			Help: "Lines that looked like access-log records but could not be used, by reason."}, []string{"source", "reason"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "fallbackwatch_lines_skipped_total",
			Help: "Lines that are not access-log records, by reason; envoy_text and multiline_json mean the access log is in a format fallbackwatch does not read."}, []string{"source", "reason"}),
		ready: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "fallbackwatch_source_ready",
			Help: "1 when the source is open and reading."}, []string{"source"}),
	}
	p.SetRouting(cfg.Routing)
	if cfg.Registerer != nil {
		for _, c := range []prometheus.Collector{p.linesRead, p.bytesRead, p.accepted, p.incomplete, p.badUTF8, p.rejected, p.skipped, aggregate.NewCollector(cfg.Counters)} {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, err
			}
		}
		if err := cfg.Registerer.Register(p.ready); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// SetRouting replaces the routing configuration; nil turns checks off.
func (p *Pipeline) SetRouting(cfg *routing.Config) {
	p.routing.Store(&routingGen{cfg: cfg})
}

// noteOnce logs msg at warning level the first time a source reports what.
func (p *Pipeline) noteOnce(source, what, msg string) {
	if _, seen := p.noted.LoadOrStore(source+"\x00"+what, true); !seen {
		p.log.Warn(msg, "source", source)
	}
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
	step     *record.Step
	lines    prometheus.Counter
	bytes    prometheus.Counter
	accepted [5]prometheus.Counter // by parse.Direction
}

// NewStream returns a Stream for one input. src names the sidecar when the input tells it
// (a Kubernetes log path); for Kafka, envelopes may name it per message.
func (p *Pipeline) NewStream(source string, src aggregate.Source) *Stream {
	s := &Stream{
		p: p, source: source,
		step: record.New(record.Options{Format: p.cfg.Format, MaxLine: p.cfg.MaxLineBytes,
			EnvelopeField: p.cfg.EnvelopeField, Check: p.cfg.Check}, src),
		lines: p.linesRead.WithLabelValues(source),
		bytes: p.bytesRead.WithLabelValues(source),
	}
	for d := range s.accepted {
		s.accepted[d] = p.accepted.WithLabelValues(source, parse.Direction(d).String())
	}
	return s
}

// Line takes one line without its newline. It reports whether the position after the line is a
// safe resume point: false while a CRI partial record is held.
func (s *Stream) Line(line []byte) (safe bool) {
	s.lines.Inc()
	s.bytes.Add(float64(len(line) + 1))
	s.step.SetRouting(s.p.routing.Load().cfg)
	o := s.step.Line(line)
	switch o.Kind {
	case record.Skipped:
		s.p.skipped.WithLabelValues(s.source, string(o.Reason)).Inc()
		if advice := record.Advice(o.Reason); advice != "" {
			s.p.noteOnce(s.source, string(o.Reason), advice)
		}
	case record.Rejected:
		s.p.rejected.WithLabelValues(s.source, string(o.Reason)).Inc()
	case record.Record:
		s.record(o)
	}
	return !s.step.Pending()
}

func (s *Stream) record(o *record.Outcome) {
	if int(o.Direction) < len(s.accepted) {
		s.accepted[o.Direction].Inc()
	}
	if !o.Rec.FallbackFields {
		s.p.incomplete.WithLabelValues(s.source, MissingFallbackFields).Inc()
		s.p.noteOnce(s.source, MissingFallbackFields, record.MissingFallbackFieldsAdvice)
	}
	if !o.Timed {
		s.p.incomplete.WithLabelValues(s.source, MissingStartTime).Inc()
	}
	if o.Rec.InvalidUTF8Ignored {
		s.p.badUTF8.WithLabelValues(s.source).Inc()
	}
	if !o.Judged {
		return
	}
	if o.Checked {
		s.p.cfg.Counters.ObserveVerdict(o.Verdict.Kind.String(), ruleLabel(o.Verdict.Rule))
		if o.Verdict.Kind == routing.Inconsistent {
			s.p.log.Debug("record contradicts the routing configuration", "rule", o.Verdict.Rule, "message", o.Verdict.Message)
		}
	}
	s.p.cfg.Counters.Observe(o.Rec, o.Route, o.Source)
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
	if o := s.step.End(); o != nil {
		s.p.rejected.WithLabelValues(s.source, string(o.Reason)).Inc()
	}
}

// TooLong counts a line that was over the cap and skipped by the reader.
func (s *Stream) TooLong() {
	s.lines.Inc()
	s.p.rejected.WithLabelValues(s.source, string(parse.RejectTooLong)).Inc()
}
