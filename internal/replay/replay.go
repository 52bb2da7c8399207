// Package replay reads access-log files once and reports what fallback routing did: the routing
// outcomes per service, route and subset, a per-minute timeline, the health of each cluster as the
// records show it, and every record that contradicts the routing configuration. It is what
// `collector replay` prints after an incident.
//
// An input is cut into blocks of whole lines that workers parse and check in parallel; blocks are
// dealt round-robin, so the report does not depend on scheduling.
package replay

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/fallbackwatch/fallbackwatch/internal/record"
	"github.com/fallbackwatch/fallbackwatch/parse"
	"github.com/fallbackwatch/fallbackwatch/routing"
)

// Options tune a replay. The zero value replays without routing checks.
type Options struct {
	Config       *routing.Config // nil: no checks
	Check        routing.CheckOptions
	Workers      int // 0: GOMAXPROCS
	MaxLineBytes int // 0: parse.DefaultMaxLine
	BlockBytes   int // 0: 2 MiB (at least twice MaxLineBytes)
	MaxLocated   int // how many rejects, violations and warnings to list; 0: 1000
	// Progress, when set, is called from time to time with the bytes read of the current input.
	Progress func(file string, read int64)
}

func (o *Options) defaults() {
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.MaxLineBytes <= 0 {
		o.MaxLineBytes = parse.DefaultMaxLine
	}
	if o.BlockBytes <= 0 {
		o.BlockBytes = 2 << 20
	}
	if o.MaxLocated <= 0 {
		o.MaxLocated = 1000
	}
}

// Input is one log to replay.
type Input struct {
	Name string
	R    io.Reader
}

// Run replays the inputs in order and returns the report. Bad lines are counted and located in
// the report; only a failure to read an input is an error, and the report then covers what was
// read before it.
func Run(ctx context.Context, inputs []Input, opts Options) (*Report, error) {
	opts.defaults()
	total := newAccumulator()
	health := newHealthLog()
	var files []FileCounts
	var firstErr error
	for _, in := range inputs {
		acc, err := runInput(ctx, in, &opts, health)
		files = append(files, FileCounts{File: in.Name, LineCounts: acc.lines})
		total.merge(acc)
		if err != nil {
			firstErr = fmt.Errorf("reading %s: %w", in.Name, err)
			break
		}
	}
	return build(&total, files, health, &opts), firstErr
}

func runInput(ctx context.Context, in Input, opts *Options, health *healthLog) (*accumulator, error) {
	n := opts.Workers
	workers := make([]*worker, n)
	queues := make([]chan *block, n)
	results := make(chan blockResult, 2*n)
	free := make(chan []byte, 2*n+1)
	var wg sync.WaitGroup
	for i := range workers {
		workers[i] = newWorker(opts)
		workers[i].file = in.Name
		queues[i] = make(chan *block, 1)
		wg.Add(1)
		go func(w *worker, q <-chan *block) {
			defer wg.Done()
			for b := range q {
				results <- w.process(b)
				select {
				case free <- b.data:
				default:
				}
			}
		}(workers[i], queues[i])
	}
	// The merger applies each block's health evidence in input order and learns where each block
	// starts.
	var firstLines []int64 // by block: the number of lines before it
	mergeDone := make(chan struct{})
	go func() {
		defer close(mergeDone)
		pending := map[int]blockResult{}
		next := 0
		var line int64
		for r := range results {
			pending[r.seq] = r
			for {
				p, ok := pending[next]
				if !ok {
					break
				}
				delete(pending, next)
				health.merge(p.health)
				firstLines = append(firstLines, line)
				line += p.lines
				next++
			}
		}
	}()

	br := newBlockReader(in.R, opts.BlockBytes, opts.MaxLineBytes)
	var readErr error
	lastProgress := time.Now()
	for {
		if err := ctx.Err(); err != nil {
			readErr = err
			break
		}
		var buf []byte
		select {
		case buf = <-free:
		default:
		}
		b, err := br.next(buf)
		if err == io.EOF {
			break
		}
		if err != nil {
			readErr = err
			break
		}
		queues[b.seq%n] <- &b
		if opts.Progress != nil && time.Since(lastProgress) > 100*time.Millisecond {
			opts.Progress(in.Name, br.read)
			lastProgress = time.Now()
		}
	}
	for _, q := range queues {
		close(q)
	}
	wg.Wait()
	close(results)
	<-mergeDone
	if opts.Progress != nil {
		opts.Progress(in.Name, br.read)
	}
	acc := newAccumulator()
	for _, w := range workers {
		w.flush()
		for _, l := range [][]Located{w.acc.rejects, w.acc.violations, w.acc.warnings} {
			fixLines(l, firstLines)
		}
		acc.merge(&w.acc)
	}
	return &acc, readErr
}

// fixLines turns block-relative line numbers (from 0) into 1-based line numbers of the input.
func fixLines(l []Located, firstLines []int64) {
	for i := range l {
		if l[i].seq < len(firstLines) {
			l[i].Line += firstLines[l[i].seq] + 1
		}
	}
}

// flush counts a record left unfinished at the end of the input (a CRI partial without its final
// fragment) as truncated.
func (w *worker) flush() {
	if w.step.Pending() {
		w.acc.lines.Rejected++
		w.acc.rejected[string(parse.RejectTruncated)]++
	}
}

// notes says, once each, what the input's lines showed about its format and what to change.
func notes(acc *accumulator) []string {
	out := []string{}
	if acc.lines.Records == 0 && acc.lines.Total-acc.skipped[string(parse.SkipBlank)] > 0 {
		out = append(out, fmt.Sprintf("no access-log record in %d lines", acc.lines.Total))
	}
	for _, reason := range []parse.Reason{parse.SkipEnvoyText, parse.SkipMultilineJSON} {
		if n := acc.skipped[string(reason)]; n > 0 {
			out = append(out, fmt.Sprintf("%d lines (%s): %s", n, reason, record.Advice(reason)))
		}
	}
	if acc.noFields > 0 {
		out = append(out, fmt.Sprintf("%d records: %s", acc.noFields, record.MissingFallbackFieldsAdvice))
	}
	if acc.untimed > 0 {
		out = append(out, fmt.Sprintf("%d records have no usable start_time (R20): they are counted, but are not in the timeline or the health", acc.untimed))
	}
	return out
}

func build(acc *accumulator, files []FileCounts, health *healthLog, opts *Options) *Report {
	r := &Report{
		Lines: acc.lines, RejectedReasons: acc.rejected, SkippedReasons: acc.skipped, Files: files,
		Checked: opts.Config != nil, Routing: routingUsed(opts.Config), Verdicts: map[string]int64{}, ViolationsByRule: acc.byRule,
		Health: health.m, HealthDropped: health.dropped, BucketSeconds: acc.bucket, GroupsFolded: acc.folded,
	}
	r.RecordsByDirection = map[string]int64{}
	for d, n := range acc.directions {
		if n > 0 {
			r.RecordsByDirection[parse.Direction(d).String()] = n
		}
	}
	r.RecordsWithoutFallbackFields, r.RecordsWithoutTime, r.RecordsInvalidUTF8Ignored = acc.noFields, acc.untimed, acc.badUTF8
	r.Notes = notes(acc)
	if r.Checked {
		for k, v := range acc.verdicts {
			if v > 0 {
				r.Verdicts[routing.VerdictKind(k).String()] = v
			}
		}
		r.ViolationsTotal = acc.verdicts[routing.Inconsistent]
	}
	byLine := func(l []Located) []Located {
		order := map[string]int{}
		for i, f := range files {
			order[f.File] = i
		}
		sort.SliceStable(l, func(i, j int) bool {
			if l[i].File != l[j].File {
				return order[l[i].File] < order[l[j].File]
			}
			return l[i].Line < l[j].Line
		})
		if len(l) > opts.MaxLocated {
			l = l[:opts.MaxLocated]
		}
		if l == nil {
			l = []Located{}
		}
		return l
	}
	r.Rejects, r.Violations, r.Warnings = byLine(acc.rejects), byLine(acc.violations), byLine(acc.warnings)
	r.Groups = make([]Group, 0, len(acc.groups))
	for _, g := range acc.groups {
		r.Groups = append(r.Groups, *g)
	}
	r.Timeline = make([]Minute, 0, len(acc.minutes))
	for _, m := range acc.minutes {
		r.Timeline = append(r.Timeline, *m)
	}
	if !acc.first.IsZero() {
		f, l := acc.first, acc.last
		r.First, r.Last = &f, &l
	}
	r.sort()
	return r
}
