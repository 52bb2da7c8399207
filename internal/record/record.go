// Package record is the one step from a log line to what fallbackwatch counts. A Step frames the
// line (raw, CRI, docker, JSON envelopes), parses the access-log record, decodes its start time,
// gives it a direction, checks client-side records against the routing configuration, and says
// which route the record counts under. `collector run` (internal/pipeline) and `collector
// replay` (internal/replay) both call it and only count the Outcome, so the metrics and the
// replay report agree by construction; the label values themselves come from package aggregate
// (ClusterLabels, CodeClass, DestinationService) for both.
//
// What is judged and what is only counted:
//
//   - Client-side records (direction outbound: outbound|…, PassthroughCluster,
//     BlackHoleCluster) and records without a cluster (direction none: 404 NR, 503 UC) are
//     routing decisions: they are counted in the request metrics and the report's groups, and
//     checked when a routing configuration is loaded.
//   - Server-side records (direction inbound: inbound|…, InboundPassthroughClusterIpv4/6, an
//     ambient waypoint's inbound-vip|… and connect_originate) repeat the client's request from
//     the receiving side; gateway records (an east-west gateway's outbound_.…, Envoy Gateway's
//     httproute/…) and records of clusters fallbackwatch cannot place (direction unknown) are
//     decisions fallbackwatch does not judge. They are counted by direction only.
//   - A judged record whose log format lacks ASM's fallback keys gets the verdict unknown
//     (MissingFallbackFields), never a violation: it cannot show a fallback.
package record

import (
	"errors"
	"time"

	"github.com/fallbackwatch/fallbackwatch/aggregate"
	"github.com/fallbackwatch/fallbackwatch/parse"
	"github.com/fallbackwatch/fallbackwatch/routing"
)

// Kind says what became of a line.
type Kind uint8

const (
	// Fragment: the line carried part of a record that ends on a later line (CRI "P"), or the
	// tail of a line dropped for being over the cap.
	Fragment Kind = iota + 1
	// Skipped: the line is not an access-log record (Outcome.Reason.Skipped()).
	Skipped
	// Rejected: the line meant to be a record and cannot be used.
	Rejected
	// Record: an access-log record.
	Record
)

// Outcome is what one line became. Its byte slices and Rec borrow from the line and the Step:
// they stay valid until the next call on the same Step.
type Outcome struct {
	Kind   Kind
	Reason parse.Reason // Skipped and Rejected
	Err    error        // Skipped and Rejected: where and what

	Rec *parse.Record // Record
	// Source names the sidecar: the envelope's pod and namespace when it tells them, else the
	// Step's own.
	Source    aggregate.Source
	Direction parse.Direction
	// Judged: the record is a routing decision (direction outbound or none). Only judged
	// records are counted in the request metrics and the report's groups and timeline.
	Judged bool
	// Time is the record's start_time; Timed is false when it is missing or unreadable (R20).
	Time  time.Time
	Timed bool
	// Checked: a routing configuration is loaded and the record is judged; Verdict holds the
	// judgement.
	Checked bool
	Verdict routing.Verdict
	// Route is the label of the route the checker matched; nil means the record's route_name.
	Route []byte
}

// MissingFallbackFields is the message of the unknown verdict of a record whose log format has
// none of ASM's fallback keys.
const MissingFallbackFields = "the log format lacks the fallback fields (fallback_path, fallback_final_cluster_name, fallback_result): the record cannot show a fallback"

// FallbackFieldsFormat are the entries the access-log format needs so that records can show
// fallback routing (the ASM fallback documentation, fallback-semantics.md R18).
const FallbackFieldsFormat = `"fallback_path": "%DYNAMIC_METADATA(com.aliyun.fallback:fallback-path)%", ` +
	`"fallback_final_cluster_name": "%DYNAMIC_METADATA(com.aliyun.fallback:final-cluster)%", ` +
	`"fallback_result": "%DYNAMIC_METADATA(com.aliyun.fallback:fallback-result)%"`

// Advice says, for a reason that means the access log is in the wrong format, what was seen and
// what to change; "" for any other reason. MissingFallbackFieldsAdvice is the advice for records
// without the fallback keys.
func Advice(r parse.Reason) string {
	switch r {
	case parse.SkipEnvoyText:
		return "the lines look like Envoy TEXT access logs (Istio's default accessLogEncoding); set meshConfig.accessLogEncoding: JSON " +
			"and add the fallback fields to meshConfig.accessLogFormat: " + FallbackFieldsFormat
	case parse.SkipMultilineJSON:
		return "the lines look like JSON records printed over several lines, as documentation shows them; " +
			"fallbackwatch reads one record per line, as Envoy writes them"
	}
	return ""
}

// MissingFallbackFieldsAdvice says what to add to a log format without the fallback keys.
const MissingFallbackFieldsAdvice = "the log format lacks the fallback fields, so these records cannot show a fallback and their verdict is unknown; " +
	"add to meshConfig.accessLogFormat: " + FallbackFieldsFormat

// Options configure a Step.
type Options struct {
	Format        parse.Format // parse.FormatAuto detects per stream
	EnvelopeField string       // for messages wrapping the line in a JSON field
	MaxLine       int          // 0: parse.DefaultMaxLine
	Check         routing.CheckOptions
}

// Step turns the lines of one input stream into Outcomes. It holds the stream's framing state
// and routing checker, so it is not safe for concurrent use: give each stream its own.
type Step struct {
	opts    Options
	src     aggregate.Source
	framer  *parse.Framer
	parser  parse.Parser
	rec     parse.Record
	times   parse.TimeDecoder
	cfg     *routing.Config
	checker *routing.Checker
	route   *routing.Route // the last route matched, and its label as bytes
	label   []byte
	out     Outcome
}

// New returns a Step for one stream whose records come from src (zero when the input does not
// tell).
func New(opts Options, src aggregate.Source) *Step {
	if opts.MaxLine <= 0 {
		opts.MaxLine = parse.DefaultMaxLine
	}
	return &Step{opts: opts, src: src,
		framer: parse.NewFramer(parse.Options{Format: opts.Format, MaxLine: opts.MaxLine, EnvelopeField: opts.EnvelopeField})}
}

// SetRouting sets the routing configuration records are checked against; nil turns checks off.
// Setting the configuration in use again keeps the checker and what it learnt.
func (s *Step) SetRouting(cfg *routing.Config) {
	if cfg == s.cfg {
		return
	}
	s.cfg, s.checker, s.route, s.label = cfg, nil, nil, nil
	if cfg != nil {
		s.checker = routing.NewChecker(cfg, s.opts.Check)
	}
}

// Pending reports whether part of a record is held, waiting for the rest: the position after
// the last line is then no safe resume point.
func (s *Step) Pending() bool { return s.framer.Pending() }

// Reset starts a new, independent piece of input: a partial record held is forgotten, and so is
// the health the checker inferred from earlier records (routing.Checker.ForgetHealth).
func (s *Step) Reset() {
	s.framer.Reset()
	if s.checker != nil {
		s.checker.ForgetHealth()
	}
}

// End tells the Step that its input is over (a self-contained Kafka message, a fragment chain
// given up). A partial record still held becomes a Rejected outcome with
// parse.RejectUnterminated; otherwise End returns nil. Framing then starts afresh, detecting the
// format again.
func (s *Step) End() *Outcome {
	err := s.framer.End()
	if err == nil {
		return nil
	}
	o := &s.out
	*o = Outcome{Kind: Rejected, Err: err, Reason: parse.RejectUnterminated}
	return o
}

// Line takes one line without its newline and returns what it became.
func (s *Step) Line(line []byte) *Outcome {
	o := &s.out
	*o = Outcome{}
	payload, ok, err := s.framer.Frame(line)
	if err == nil && !ok {
		o.Kind = Fragment
		return o
	}
	if err == nil {
		err = s.parser.Parse(payload, &s.rec)
	}
	if err != nil {
		o.Kind, o.Err, o.Reason = Rejected, err, parse.RejectInvalidJSON
		var pe *parse.Error
		if errors.As(err, &pe) {
			o.Reason = pe.Reason
			if pe.Reason.Skipped() {
				o.Kind = Skipped
			}
		}
		return o
	}
	rec := &s.rec
	o.Kind, o.Rec, o.Source = Record, rec, s.src
	if m := s.framer.Meta(); m.Namespace != "" || m.Pod != "" {
		o.Source = aggregate.Source{Namespace: m.Namespace, Workload: parse.WorkloadFromPod(m.Pod)}
	}
	if len(rec.StartTime) > 0 {
		if t, terr := s.times.Decode(rec.StartTime); terr == nil {
			o.Time, o.Timed = t, true
		}
	}
	o.Direction = rec.Direction()
	o.Judged = o.Direction == parse.DirectionOutbound || o.Direction == parse.DirectionNone
	if !o.Judged || s.checker == nil {
		return o
	}
	o.Checked = true
	if !rec.FallbackFields {
		o.Verdict = routing.Verdict{Kind: routing.Unknown, Message: MissingFallbackFields}
		return o
	}
	o.Verdict = s.checker.Check(rec, o.Time)
	if r := o.Verdict.Route; r != nil {
		if r != s.route {
			s.route, s.label = r, []byte(r.Label())
		}
		o.Route = s.label
	}
	return o
}
