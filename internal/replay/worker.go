package replay

import (
	"encoding/binary"
	"time"

	"github.com/fallbackwatch/fallbackwatch/aggregate"
	"github.com/fallbackwatch/fallbackwatch/internal/record"
	"github.com/fallbackwatch/fallbackwatch/parse"
	"github.com/fallbackwatch/fallbackwatch/routing"
)

// worker turns blocks into counts. Each worker owns its record step (framing, parsing,
// checking) and accumulators; the accumulators of all workers are merged when the input ends.
type worker struct {
	opts *Options
	file string
	seq  int // the block being processed
	step *record.Step

	acc accumulator
	key []byte
}

// accumulator holds what workers count; merging two is adding them.
type accumulator struct {
	lines      LineCounts
	directions [5]int64 // records by parse.Direction
	noFields   int64    // records without the fallback fields
	untimed    int64    // records without a usable start_time
	badUTF8    int64    // records kept with invalid UTF-8 in fields fallbackwatch does not read
	rejected   map[string]int64
	skipped    map[string]int64
	rejects    []Located
	groups     map[string]*Group
	minutes    map[string]*Minute
	bucket     int64 // timeline bucket width in seconds
	folded     int64 // records counted in the overflow group
	verdicts   [4]int64
	byRule     map[string]int64
	violations []Located
	warnings   []Located
	first      time.Time
	last       time.Time
}

// Bounds of an accumulator: groups beyond maxGroups fold into one overflow group; a timeline
// with more than maxBuckets entries doubles its bucket width.
const (
	maxGroups  = 20000
	maxBuckets = 2048
	overflow   = "__overflow__"
)

func newAccumulator() accumulator {
	return accumulator{bucket: 60,
		rejected: map[string]int64{}, skipped: map[string]int64{}, groups: map[string]*Group{},
		minutes: map[string]*Minute{}, byRule: map[string]int64{},
	}
}

// blockResult carries what must be merged in input order: the health seen in one block, and
// how many lines it held.
type blockResult struct {
	seq    int
	health map[string][]routing.Interval
	lines  int64
}

func newWorker(opts *Options) *worker {
	w := &worker{opts: opts, acc: newAccumulator()}
	w.step = record.New(record.Options{MaxLine: opts.MaxLineBytes, Check: opts.Check}, aggregate.Source{})
	w.step.SetRouting(opts.Config)
	return w
}

// process counts the lines of b and returns the health evidence it held and its line count.
// Lines are numbered within the block (from 0) until fixLines makes them absolute.
func (w *worker) process(b *block) blockResult {
	w.seq = b.seq
	w.step.Reset() // blocks are cut where no partial line is open (blockReader.cutPoint)
	health := routing.NewTimeline()
	for n := 0; n < b.skipped; n++ {
		w.acc.lines.Total++
		w.reject(int64(n), parse.RejectTooLong, "line longer than the limit was skipped")
	}
	data := b.data
	lineNo := int64(b.skipped)
	for len(data) > 0 {
		// No cap here: line() counts a line over the cap as rejected where it stands.
		line, rest, _ := parse.NextLine(data, 0)
		data = rest
		w.line(line, lineNo, health)
		lineNo++
	}
	return blockResult{seq: b.seq, health: health.Intervals(), lines: lineNo}
}

func (w *worker) line(line []byte, lineNo int64, health *routing.Timeline) {
	acc := &w.acc
	acc.lines.Total++
	acc.lines.Bytes += int64(len(line)) + 1
	if len(line) > w.opts.MaxLineBytes {
		w.reject(lineNo, parse.RejectTooLong, "line longer than the limit was skipped")
		return
	}
	o := w.step.Line(line)
	switch o.Kind {
	case record.Fragment:
		acc.lines.Fragments++ // part of a record that continues on a later line
		return
	case record.Skipped:
		acc.lines.Skipped++
		acc.skipped[string(o.Reason)]++
		return
	case record.Rejected:
		w.reject(lineNo, o.Reason, o.Err.Error())
		return
	}
	rec := o.Rec
	acc.lines.Records++
	if int(o.Direction) < len(acc.directions) {
		acc.directions[o.Direction]++
	}
	if !rec.FallbackFields {
		acc.noFields++
	}
	if !o.Timed {
		acc.untimed++
	}
	if rec.InvalidUTF8Ignored {
		acc.badUTF8++
	}
	if !o.Judged {
		return
	}
	at := o.Time
	if o.Timed {
		if acc.first.IsZero() || at.Before(acc.first) {
			acc.first = at
		}
		if at.After(acc.last) {
			acc.last = at
		}
		health.Observe(rec, at)
	}
	if o.Checked {
		v := &o.Verdict
		acc.verdicts[v.Kind]++
		switch v.Kind {
		case routing.Inconsistent:
			acc.byRule[v.Rule]++
			if len(acc.violations) < w.opts.MaxLocated {
				acc.violations = append(acc.violations, Located{seq: w.seq, File: w.file, Line: lineNo, Rule: v.Rule, Route: routeLabel(v.Route), Message: v.Message})
			}
		case routing.Warning:
			if len(acc.warnings) < w.opts.MaxLocated {
				acc.warnings = append(acc.warnings, Located{seq: w.seq, File: w.file, Line: lineNo, Rule: v.Rule, Route: routeLabel(v.Route), Message: v.Message})
			}
		}
	}
	if o.Route != nil {
		w.group(rec, o.Route, nil)
	} else {
		w.group(rec, nil, rec.RouteName)
	}
	if o.Timed {
		if o.Route != nil {
			w.minute(rec, at, o.Route)
		} else {
			w.minute(rec, at, rec.RouteName)
		}
	}
}

func routeLabel(r *routing.Route) string {
	if r == nil {
		return ""
	}
	return r.Label()
}

func (w *worker) reject(lineNo int64, reason parse.Reason, msg string) {
	w.acc.lines.Rejected++
	w.acc.rejected[string(reason)]++
	if len(w.acc.rejects) < w.opts.MaxLocated {
		w.acc.rejects = append(w.acc.rejects, Located{seq: w.seq, File: w.file, Line: lineNo, Reason: string(reason), Message: msg})
	}
}

// group counts rec in its routing-outcome group, allocating only for a new group. The route is
// the matched route's label, or else the record's route_name.
func (w *worker) group(rec *parse.Record, routeLabel, routeName []byte) {
	primary, fallback, final := rec.PrimaryCluster(), rec.FallbackCluster(), rec.FinalCluster()
	class := aggregate.CodeClass(rec)
	k := w.key[:0]
	k = append(k, routeLabel...)
	k = append(k, routeName...)
	k = append(k, 0)
	k = append(k, primary...)
	k = append(k, 0)
	k = append(k, fallback...)
	k = append(k, 0)
	k = append(k, final...)
	k = append(k, 0, byte(rec.Result))
	w.key = k
	g, ok := w.acc.groups[string(k)]
	if !ok && len(w.acc.groups) >= maxGroups {
		w.acc.folded++
		g, ok = w.acc.groups[overflow]
		if !ok {
			g = &Group{DestinationService: overflow, Route: overflow, PrimaryCluster: overflow, FallbackCluster: overflow,
				FinalCluster: overflow, Result: overflow, CodeClasses: map[string]int64{}}
			w.acc.groups[overflow] = g
		}
	}
	if !ok {
		g = &Group{
			Route: string(routeLabel) + string(routeName), PrimaryCluster: string(primary), FallbackCluster: string(fallback),
			FinalCluster: string(final), Result: rec.Result.String(), CodeClasses: map[string]int64{},
		}
		g.DestinationService, g.PrimarySubset = serviceSubset(primary)
		if len(primary) == 0 {
			g.DestinationService = aggregate.NoneService
		}
		_, g.FallbackSubset = serviceSubset(fallback)
		_, g.FinalSubset = serviceSubset(final)
		w.acc.groups[string(k)] = g
	}
	g.Requests++
	g.CodeClasses[class]++
}

func (w *worker) minute(rec *parse.Record, at time.Time, route []byte) {
	primary := rec.PrimaryCluster()
	start := floorDiv(at.Unix(), w.acc.bucket) * w.acc.bucket
	k := binary.BigEndian.AppendUint64(w.key[:0], uint64(start))
	k = append(k, route...)
	k = append(k, 0)
	k = append(k, primary...)
	w.key = k
	m, ok := w.acc.minutes[string(k)]
	if !ok {
		m = &Minute{Minute: time.Unix(start, 0).UTC(), Route: string(route), PrimaryCluster: string(primary)}
		m.DestinationService, m.PrimarySubset = serviceSubset(primary)
		if len(primary) == 0 {
			m.DestinationService = aggregate.NoneService
		}
		w.acc.minutes[string(k)] = m
		if len(w.acc.minutes) > maxBuckets {
			w.acc.rebucket(2 * w.acc.bucket)
		}
	}
	m.Requests++
	switch rec.Result {
	case parse.ResultSuccess:
		m.FallbackSuccess++
	case parse.ResultFailed:
		m.FallbackFailed++
	case parse.ResultNone:
		switch {
		case rec.Flags.Has(parse.FlagUH):
			m.NoFallbackUH++ // R14: no fallback, 503 UH
		case len(rec.FinalCluster()) > 0:
			m.Routed++
		}
	}
}

// serviceSubset names a cluster's service and subset as the metrics label them
// (aggregate.ClusterLabels); a record without a cluster belongs to aggregate.NoneService.
func serviceSubset(cluster []byte) (string, string) {
	if len(cluster) == 0 {
		return "", ""
	}
	svc, sub := aggregate.ClusterLabels(cluster)
	return string(svc), string(sub)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// rebucket widens the timeline's buckets to width seconds, adding up the entries that fall
// together.
func (a *accumulator) rebucket(width int64) {
	if width <= a.bucket {
		return
	}
	old := a.minutes
	a.minutes = make(map[string]*Minute, len(old)/2)
	a.bucket = width
	for _, m := range old {
		start := floorDiv(m.Minute.Unix(), width) * width
		k := string(binary.BigEndian.AppendUint64(nil, uint64(start))) + m.Route + "\x00" + m.PrimaryCluster
		if x, ok := a.minutes[k]; ok {
			x.add(m)
			continue
		}
		m.Minute = time.Unix(start, 0).UTC()
		a.minutes[k] = m
	}
}

// merge adds o into a.
func (a *accumulator) merge(o *accumulator) {
	if o.bucket > a.bucket {
		a.rebucket(o.bucket)
	} else {
		o.rebucket(a.bucket)
	}
	a.folded += o.folded
	for i, v := range o.directions {
		a.directions[i] += v
	}
	a.noFields += o.noFields
	a.untimed += o.untimed
	a.badUTF8 += o.badUTF8
	a.lines.Total += o.lines.Total
	a.lines.Records += o.lines.Records
	a.lines.Rejected += o.lines.Rejected
	a.lines.Skipped += o.lines.Skipped
	a.lines.Fragments += o.lines.Fragments
	a.lines.Bytes += o.lines.Bytes
	for k, v := range o.rejected {
		a.rejected[k] += v
	}
	for k, v := range o.skipped {
		a.skipped[k] += v
	}
	for k, v := range o.byRule {
		a.byRule[k] += v
	}
	for i, v := range o.verdicts {
		a.verdicts[i] += v
	}
	a.rejects = append(a.rejects, o.rejects...)
	a.violations = append(a.violations, o.violations...)
	a.warnings = append(a.warnings, o.warnings...)
	for k, g := range o.groups {
		if x, ok := a.groups[k]; ok {
			x.Requests += g.Requests
			for c, n := range g.CodeClasses {
				x.CodeClasses[c] += n
			}
		} else {
			a.groups[k] = g
		}
	}
	for k, m := range o.minutes {
		if x, ok := a.minutes[k]; ok {
			x.add(m)
		} else {
			a.minutes[k] = m
		}
	}
	for len(a.minutes) > maxBuckets {
		a.rebucket(2 * a.bucket)
	}
	if !o.first.IsZero() && (a.first.IsZero() || o.first.Before(a.first)) {
		a.first = o.first
	}
	if o.last.After(a.last) {
		a.last = o.last
	}
}

// add counts o's requests in m.
func (m *Minute) add(o *Minute) {
	m.Requests += o.Requests
	m.Routed += o.Routed
	m.FallbackSuccess += o.FallbackSuccess
	m.FallbackFailed += o.FallbackFailed
	m.NoFallbackUH += o.NoFallbackUH
}
