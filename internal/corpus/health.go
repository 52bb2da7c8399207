package corpus

import (
	"math"
	"math/rand/v2"
	"time"
)

// Health over time for the Mixed scenario.
//
// Every (service, subset) cluster has one health timeline over log time, drawn from the seed
// alone (not from the records), so a record's outcome follows from the health of its clusters at
// its start_time, as in ASM: primary healthy → served without fallback metadata (R14); primary
// down with a healthy target → successful fallback (R15); both down → 503 UH "fallback cluster is
// unhealthy" (R16), one hop only (R17); primary down without fallback → 503 UH (R14).
//
// A service has at most one outage at a time, so the effect of an outage on the records is fixed
// for its whole duration:
//   - single: one subset with a fallback is down; its traffic falls back successfully;
//   - pair: a subset and its fallback target are down together (a correlated outage); the
//     subset's traffic fails, the target's traffic falls back in turn (chains such as v3→v2→v1),
//     fails too (mutual fallbacks such as zone-a↔zone-b) or gets 503 UH (target without fallback);
//   - bare: a subset without fallback is down; its traffic gets 503 UH.
//
// A planner decides, every few seconds of log time, which outages start, steering the shares of
// traffic in each outcome towards the targets below with a proportional-integral rule, and
// preferring the clusters that have been down the least. Outages last tens of seconds to a few
// minutes; a service stays healthy for a while after each.

// Target shares of the records, by outcome.
const (
	targetSuccess = 0.15  // successful fallback
	targetFailed  = 0.05  // failed fallback (503 UH, fallback cluster is unhealthy)
	targetBare    = 0.004 // 503 UH from a down cluster without fallback
)

// outcome indexes of outage.share and schedule.integral.
const (
	outSuccess = iota
	outFailed
	outBare
	numOutcomes
)

type outageKind uint8

const (
	outageSingle outageKind = iota
	outagePair
	outageBare
)

// outage is a span during which some subsets of one service have no healthy endpoint.
type outage struct {
	svc        int
	kind       outageKind
	down       [2]string // subsets down; down[1] is empty for single and bare outages
	start, end time.Time
	share      [numOutcomes]float64 // share of all records in each outcome while it lasts
}

func (o *outage) has(subset string) bool {
	return subset != "" && (o.down[0] == subset || o.down[1] == subset)
}

// schedule plans and answers the health of every Mixed cluster. Queries must come in
// non-decreasing time.
type schedule struct {
	rng      *rand.Rand
	t0       time.Time
	tick     time.Time // the next planning time
	acc      time.Time // integral and downtime are accumulated up to here
	active   []outage  // per service; end.IsZero() when none
	free     []time.Time
	integral [numOutcomes]float64   // share-seconds so far
	downSecs map[clusterKey]float64 // seconds down so far
	weight   map[clusterKey]float64 // share of all records
	keep     bool                   // keep history (tests)
	history  []outage
}

type clusterKey struct {
	svc    int
	subset string
}

const (
	// planning step, and the proportional-integral time constant of the planner
	tickMin, tickMax = 500 * time.Millisecond, 3 * time.Second
	tau              = 40.0 // seconds
)

// maxDownShare: a cluster down longer than this share of the time so far gets no new outage.
const maxDownShare = 0.38

// costWeight weighs the planner's deviations by outcome: 503 UH without fallback is kept rare.
var costWeight = [numOutcomes]float64{1, 1, 4}

func newSchedule(seed uint64, start time.Time) *schedule {
	s := &schedule{
		rng:      rand.New(rand.NewPCG(seed, 0x4ea17e)),
		t0:       start,
		tick:     start,
		acc:      start,
		active:   make([]outage, len(services)),
		free:     make([]time.Time, len(services)),
		downSecs: map[clusterKey]float64{},
		weight:   map[clusterKey]float64{},
	}
	for i := range services {
		sv := &services[i]
		for _, sub := range sv.subsets {
			s.weight[clusterKey{i, sub}] = 1 / float64(len(services)) / float64(len(sv.subsets))
		}
		// services start healthy, and come up for their first outage at different times
		s.free[i] = start.Add(s.uniform(2*time.Second, 40*time.Second))
	}
	return s
}

func (s *schedule) uniform(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(s.rng.Int64N(int64(hi-lo)+1))/time.Millisecond*time.Millisecond
}

// logUniform draws a duration between lo and hi, short ones more often, in whole milliseconds.
func (s *schedule) logUniform(lo, hi time.Duration) time.Duration {
	d := float64(lo) * math.Exp(s.rng.Float64()*math.Log(float64(hi)/float64(lo)))
	return time.Duration(d) / time.Millisecond * time.Millisecond
}

// down reports whether subset of service svc has no healthy endpoint at t.
func (s *schedule) down(svc int, subset string, t time.Time) bool {
	s.advance(t)
	o := &s.active[svc]
	return !o.end.IsZero() && !t.Before(o.start) && t.Before(o.end) && o.has(subset)
}

// advance plans every tick up to t.
func (s *schedule) advance(t time.Time) {
	for !s.tick.After(t) {
		s.accumulate(s.tick)
		s.plan(s.tick)
		s.tick = s.tick.Add(s.uniform(tickMin, tickMax))
	}
}

// accumulate adds the outcome shares and downtime of the active outages up to t.
func (s *schedule) accumulate(t time.Time) {
	for i := range s.active {
		o := &s.active[i]
		if o.end.IsZero() {
			continue
		}
		from, to := maxTime(o.start, s.acc), minTime(o.end, t)
		if to.After(from) {
			secs := to.Sub(from).Seconds()
			for k := range o.share {
				s.integral[k] += o.share[k] * secs
			}
			for _, sub := range o.down {
				if sub != "" {
					s.downSecs[clusterKey{i, sub}] += secs
				}
			}
		}
		if !o.end.After(t) {
			if s.keep {
				s.history = append(s.history, *o)
			}
			s.free[i] = o.end.Add(s.uniform(5*time.Second, 30*time.Second))
			*o = outage{}
		}
	}
	s.acc = t
}

// plan starts the outages that bring the outcome shares closest to their targets.
func (s *schedule) plan(t time.Time) {
	elapsed := t.Sub(s.t0).Seconds()
	targets := [numOutcomes]float64{targetSuccess, targetFailed, targetBare}
	var level, want [numOutcomes]float64
	for k := range targets {
		want[k] = max(0, targets[k]+(targets[k]*elapsed-s.integral[k])/tau)
	}
	for i := range s.active {
		for k, v := range s.active[i].share {
			level[k] += v
		}
	}
	cost := func(add [numOutcomes]float64) float64 {
		c := 0.0
		for k := range level {
			d := level[k] + add[k] - want[k]
			c += costWeight[k] * d * d
		}
		return c
	}
	for {
		now := cost([numOutcomes]float64{})
		var best outage
		bestScore := 0.0
		for i := range services {
			if !s.active[i].end.IsZero() || t.Before(s.free[i]) {
				continue
			}
			for _, o := range s.candidates(i) {
				gain := now - cost(o.share)
				if gain <= 0 {
					continue
				}
				// prefer the clusters down the least so far, and vary the picks
				worst := 0.0
				for _, sub := range o.down {
					if sub != "" {
						worst = max(worst, s.downSecs[clusterKey{i, sub}]/max(elapsed, 300))
					}
				}
				if worst > maxDownShare {
					continue
				}
				score := gain * (1 - worst) * (1 - worst) * (0.5 + s.rng.Float64())
				if score > bestScore {
					best, bestScore = o, score
				}
			}
		}
		if bestScore == 0 {
			return
		}
		best.start = t
		switch best.kind {
		case outageSingle:
			best.end = t.Add(s.logUniform(15*time.Second, 180*time.Second))
		case outagePair:
			best.end = t.Add(s.logUniform(10*time.Second, 60*time.Second))
		default:
			best.end = t.Add(s.logUniform(5*time.Second, 40*time.Second))
		}
		s.active[best.svc] = best
		for k, v := range best.share {
			level[k] += v
		}
	}
}

// candidates lists the outages service i may have, with their effect on the records.
func (s *schedule) candidates(i int) []outage {
	sv := &services[i]
	var out []outage
	for _, a := range sv.subsets {
		wa := s.weight[clusterKey{i, a}]
		fb := sv.fallback[a]
		if fb == "" {
			o := outage{svc: i, kind: outageBare, down: [2]string{a}}
			o.share[outBare] = wa
			out = append(out, o)
			continue
		}
		o := outage{svc: i, kind: outageSingle, down: [2]string{a}}
		o.share[outSuccess] = wa
		out = append(out, o)

		p := outage{svc: i, kind: outagePair, down: [2]string{a, fb}}
		p.share[outFailed] = wa
		wb := s.weight[clusterKey{i, fb}]
		switch next := sv.fallback[fb]; next {
		case "":
			p.share[outBare] += wb
		case a:
			p.share[outFailed] += wb
		default:
			p.share[outSuccess] += wb
		}
		out = append(out, p)
	}
	return out
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
