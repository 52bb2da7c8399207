package replay

import (
	"time"

	"github.com/fallbackwatch/fallbackwatch/routing"
)

// Bounds of the report's health section, so that flapping or hostile input cannot grow it (or
// the memory behind it) without limit.
const (
	maxHealthClusters  = 4096 // clusters whose health is reported; evidence about more is counted
	maxHealthIntervals = 512  // intervals per cluster; beyond, neighbours are merged pairwise
)

// Health states of a HealthInterval.
const (
	StateHealthy   = "healthy"
	StateUnhealthy = "unhealthy"
	StateMixed     = "mixed" // a span coarsened from intervals of both states
)

// healthLog builds the report's health timeline from blocks' intervals, applied in input order.
type healthLog struct {
	m       map[string][]HealthInterval
	dropped int64
}

func newHealthLog() *healthLog { return &healthLog{m: map[string][]HealthInterval{}} }

// merge appends one block's intervals.
func (h *healthLog) merge(src map[string][]routing.Interval) {
	for cluster, ivs := range src {
		cur, ok := h.m[cluster]
		if !ok && len(h.m) >= maxHealthClusters {
			h.dropped += int64(len(ivs))
			continue
		}
		for _, iv := range ivs {
			state := StateUnhealthy
			if iv.Healthy {
				state = StateHealthy
			}
			cur = appendInterval(cur, HealthInterval{Start: iv.Start, End: iv.End, State: state, Healthy: iv.Healthy})
		}
		if len(cur) > maxHealthIntervals {
			cur = coarsen(cur)
		}
		h.m[cluster] = cur
	}
}

// appendInterval adds iv, joining it to the last interval when the state is the same.
func appendInterval(cur []HealthInterval, iv HealthInterval) []HealthInterval {
	if n := len(cur); n > 0 && cur[n-1].State == iv.State {
		if iv.End.After(cur[n-1].End) {
			cur[n-1].End = iv.End
		}
		return cur
	}
	return append(cur, iv)
}

// coarsen merges neighbouring intervals pairwise (a pair of different states becomes mixed),
// then joins equal neighbours: the result has at most half the intervals.
func coarsen(ivs []HealthInterval) []HealthInterval {
	out := ivs[:0]
	for i := 0; i < len(ivs); i += 2 {
		a := ivs[i]
		if i+1 < len(ivs) {
			b := ivs[i+1]
			if b.State != a.State {
				a.State, a.Healthy = StateMixed, false
			}
			a.End = maxTime(a.End, b.End)
		}
		out = appendInterval(out, a)
	}
	return out
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
