package aggregate

import (
	"cmp"
	"slices"
	"strings"
	"sync/atomic"
)

// Snapshot is the state of a Counters at one moment, as plain data sorted by labels.
type Snapshot struct {
	Requests  []RequestSeries
	Durations []DurationSeries
	Decisions []DecisionSeries
	Unhealthy []UnhealthySeries
	// Overflow maps each bounded metric's name (MetricRequests, MetricDuration, MetricDecisions,
	// MetricUnhealthy) to the number of records counted in its overflow series. Every name is
	// present.
	Overflow map[string]uint64
}

// RequestLabels are the labels of fallbackwatch_requests_total (docs/metrics.md).
type RequestLabels struct {
	DestinationService string `json:"destination_service"`
	PrimarySubset      string `json:"primary_subset"`
	FallbackService    string `json:"fallback_service"`
	FallbackSubset     string `json:"fallback_subset"`
	FinalService       string `json:"final_service"`
	FinalSubset        string `json:"final_subset"`
	Result             string `json:"result"`
	CodeClass          string `json:"code_class"`
	Route              string `json:"route"`
	SourceNamespace    string `json:"source_namespace"`
	SourceWorkload     string `json:"source_workload"`
}

// values returns the labels in the order of requestLabelNames.
func (l *RequestLabels) values() []string {
	return []string{l.DestinationService, l.PrimarySubset, l.FallbackService, l.FallbackSubset,
		l.FinalService, l.FinalSubset, l.Result, l.CodeClass, l.Route, l.SourceNamespace, l.SourceWorkload}
}

func requestLabels(v *[11]string) RequestLabels {
	return RequestLabels{v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10]}
}

// RequestSeries is one series of fallbackwatch_requests_total.
type RequestSeries struct {
	RequestLabels
	Requests uint64 `json:"requests"`
}

// DurationSeries is one series of fallbackwatch_request_duration_seconds.
type DurationSeries struct {
	DestinationService string  `json:"destination_service"`
	FinalSubset        string  `json:"final_subset"`
	Result             string  `json:"result"`
	Count              uint64  `json:"count"`
	SumSeconds         float64 `json:"sum_seconds"`
	// Buckets are cumulative counts, one per bound of DurationBuckets (+Inf is Count).
	Buckets []uint64 `json:"buckets"`
}

// UnhealthySeries is one series of fallbackwatch_upstream_unhealthy_total: records whose
// response flags contain UH. A series exists, possibly at zero, for every destination, primary
// subset, route and result that some record had.
type UnhealthySeries struct {
	DestinationService string `json:"destination_service"`
	PrimarySubset      string `json:"primary_subset"`
	Route              string `json:"route"`
	Result             string `json:"result"`
	Count              uint64 `json:"count"`
}

// DecisionSeries is one series of fallbackwatch_decisions_total.
type DecisionSeries struct {
	Verdict string `json:"verdict"`
	Rule    string `json:"rule"`
	Count   uint64 `json:"count"`
}

// Snapshot returns the current counts. With Config.SeriesTTL set it first drops the series that
// have been idle for longer than the TTL.
//
// Every exported value is an entry sum plus retired counts, and expiry is what moves counts from
// entries to retired. Snapshots are serialized, expiry included, so no expiry runs between a
// snapshot's pass over the entries and its pass over the retired counts: a count is seen once,
// never in both places or in neither, and a counter never goes down while its series lives.
// Records counted during a snapshot show in it or in the next one.
func (c *Counters) Snapshot() Snapshot {
	c.snapMu.Lock()
	defer c.snapMu.Unlock()
	if c.cfg.SeriesTTL > 0 {
		c.expire()
	}
	reqs := make(map[*reqSeries]uint64)
	uhs := make(map[*uhSeries]uint64)
	hists := make(map[*histSeries]*histData)
	histOf := func(g *histSeries) *histData {
		d := hists[g]
		if d == nil {
			d = new(histData)
			hists[g] = d
		}
		return d
	}
	for i := range c.stripes {
		s := &c.stripes[i]
		s.mu.Lock()
		for _, e := range s.entries {
			for ; e != nil; e = e.next {
				reqs[e.g] += e.count
				if e.uh > 0 {
					uhs[e.u] += e.uh
				}
				if e.hist.count > 0 {
					histOf(e.h).add(&e.hist)
				}
			}
		}
		s.mu.Unlock()
	}
	c.regMu.Lock()
	for _, g := range c.reqReg {
		for ; g != nil; g = g.next {
			if n := atomic.LoadUint64(&g.retired); n > 0 {
				reqs[g] += n
			}
		}
	}
	for _, g := range c.histReg {
		for ; g != nil; g = g.next {
			if d := g.retired.load(); d.count > 0 {
				histOf(g).add(&d)
			}
		}
	}
	for _, g := range c.uhReg {
		for ; g != nil; g = g.next {
			// Every live series is exported, at zero until a UH record comes, so that rate()
			// sees the first one.
			uhs[g] += atomic.LoadUint64(&g.retired)
		}
	}
	c.regMu.Unlock()
	if n := atomic.LoadUint64(&c.reqOverflow.retired); n > 0 {
		reqs[c.reqOverflow] += n
	}
	if n := atomic.LoadUint64(&c.uhOverflow.retired); n > 0 {
		uhs[c.uhOverflow] += n
	}
	if d := c.histOverflow.retired.load(); d.count > 0 {
		histOf(c.histOverflow).add(&d)
	}

	snap := Snapshot{Overflow: map[string]uint64{MetricRequests: reqs[c.reqOverflow], MetricDuration: 0, MetricDecisions: 0,
		MetricUnhealthy: uhs[c.uhOverflow]}}
	series := make([]*reqSeries, 0, len(reqs))
	for g, n := range reqs {
		if n > 0 {
			series = append(series, g)
		}
	}
	slices.SortFunc(series, func(a, b *reqSeries) int {
		for i := range a.labels {
			if c := strings.Compare(a.labels[i], b.labels[i]); c != 0 {
				return c
			}
		}
		return 0
	})
	snap.Requests = make([]RequestSeries, len(series))
	for i, g := range series {
		snap.Requests[i] = RequestSeries{RequestLabels: requestLabels(&g.labels), Requests: reqs[g]}
	}

	snap.Durations = make([]DurationSeries, 0, len(hists))
	for g, d := range hists {
		if g == c.histOverflow {
			snap.Overflow[MetricDuration] = d.count
		}
		ds := DurationSeries{DestinationService: g.labels[0], FinalSubset: g.labels[1], Result: g.labels[2],
			Count: d.count, SumSeconds: float64(d.sumMs) / 1000, Buckets: make([]uint64, len(durationBoundsMs))}
		var cum uint64
		for i := range ds.Buckets {
			cum += d.buckets[i]
			ds.Buckets[i] = cum
		}
		snap.Durations = append(snap.Durations, ds)
	}
	slices.SortFunc(snap.Durations, func(a, b DurationSeries) int {
		return cmp.Or(cmp.Compare(a.DestinationService, b.DestinationService),
			cmp.Compare(a.FinalSubset, b.FinalSubset), cmp.Compare(a.Result, b.Result))
	})

	snap.Unhealthy = make([]UnhealthySeries, 0, len(uhs))
	for g, n := range uhs {
		if g == c.uhOverflow && n == 0 {
			continue
		}
		snap.Unhealthy = append(snap.Unhealthy, UnhealthySeries{DestinationService: g.labels[0], PrimarySubset: g.labels[1],
			Route: g.labels[2], Result: g.labels[3], Count: n})
	}
	slices.SortFunc(snap.Unhealthy, func(a, b UnhealthySeries) int {
		return cmp.Or(cmp.Compare(a.DestinationService, b.DestinationService), cmp.Compare(a.PrimarySubset, b.PrimarySubset),
			cmp.Compare(a.Route, b.Route), cmp.Compare(a.Result, b.Result))
	})

	c.verdictMu.Lock()
	snap.Decisions = make([]DecisionSeries, 0, len(c.verdicts)+1)
	for k, n := range c.verdicts {
		snap.Decisions = append(snap.Decisions, DecisionSeries{Verdict: k.verdict, Rule: k.rule, Count: n})
	}
	if c.verdictOverflow > 0 {
		snap.Decisions = append(snap.Decisions, DecisionSeries{Verdict: OverflowValue, Rule: OverflowValue, Count: c.verdictOverflow})
		snap.Overflow[MetricDecisions] = c.verdictOverflow
	}
	c.verdictMu.Unlock()
	slices.SortFunc(snap.Decisions, func(a, b DecisionSeries) int {
		return cmp.Or(cmp.Compare(a.Verdict, b.Verdict), cmp.Compare(a.Rule, b.Rule))
	})
	return snap
}
