package routing

import (
	"sort"
	"time"

	"github.com/fallbackwatch/fallbackwatch/parse"
)

// Interval is a span of time during which a cluster was seen healthy or unhealthy.
type Interval struct {
	Start   time.Time
	End     time.Time
	Healthy bool
}

// HealthState is a tri-state answer of a Timeline.
type HealthState uint8

const (
	HealthUnknown HealthState = iota
	HealthUp
	HealthDown
)

func (s HealthState) String() string {
	return [...]string{"unknown", "healthy", "unhealthy"}[s]
}

// Bounds of a Timeline: intervals kept per cluster (the oldest half is dropped beyond it) and
// clusters tracked (evidence about further clusters is ignored), so hostile or flapping input
// cannot grow it without limit.
const (
	maxIntervals        = 4096
	maxTimelineClusters = 1 << 16
	// checkerIntervals is what a Checker's inferred timeline keeps per cluster: it only ever
	// looks at the latest interval.
	checkerIntervals = 16
)

// Timeline holds per-cluster health intervals, keyed by Envoy cluster name (C6). It is either
// given (built with Add) or inferred from records with Observe: a cluster is unhealthy where
// records show it falling back or failing with UH, healthy where it serves. Not safe for
// concurrent use.
type Timeline struct {
	m            map[string]*history
	maxIntervals int
}

type history struct {
	iv  []Interval
	max int
}

// NewTimeline returns an empty timeline.
func NewTimeline() *Timeline { return newTimeline(maxIntervals) }

func newTimeline(perCluster int) *Timeline {
	return &Timeline{m: map[string]*history{}, maxIntervals: perCluster}
}

// get returns the history of cluster, creating it when create is set and the timeline has room;
// nil when there is none.
func (t *Timeline) get(cluster []byte, create bool) *history {
	h := t.m[string(cluster)]
	if h == nil && create && len(t.m) < maxTimelineClusters {
		h = &history{max: t.maxIntervals}
		t.m[string(cluster)] = h
	}
	return h
}

// Add records that cluster was healthy (or not) from start to end.
func (t *Timeline) Add(cluster string, start, end time.Time, healthy bool) {
	h := t.get([]byte(cluster), true)
	if h == nil {
		return
	}
	h.iv = append(h.iv, Interval{Start: start, End: end, Healthy: healthy})
	sort.Slice(h.iv, func(i, j int) bool { return h.iv[i].Start.Before(h.iv[j].Start) })
}

// Intervals returns a copy of every cluster's intervals, in time order.
func (t *Timeline) Intervals() map[string][]Interval {
	out := make(map[string][]Interval, len(t.m))
	for k, v := range t.m {
		out[k] = append([]Interval(nil), v.iv...)
	}
	return out
}

// At says whether cluster was healthy at time at: the state of the interval containing at, else
// unknown.
func (t *Timeline) At(cluster string, at time.Time) HealthState {
	return t.at([]byte(cluster), at)
}

func (t *Timeline) at(cluster []byte, at time.Time) HealthState {
	h := t.get(cluster, false)
	if h == nil {
		return HealthUnknown
	}
	iv := h.iv
	i := sort.Search(len(iv), func(i int) bool { return iv[i].Start.After(at) }) - 1
	if i < 0 || at.After(iv[i].End) {
		return HealthUnknown
	}
	if iv[i].Healthy {
		return HealthUp
	}
	return HealthDown
}

// changeNear reports whether cluster's state changes within margin of at: two consecutive
// intervals of different state meet (or leave a gap) that close.
func (t *Timeline) changeNear(cluster []byte, at time.Time, margin time.Duration) bool {
	h := t.get(cluster, false)
	if h == nil {
		return false
	}
	iv := h.iv
	for i := 0; i+1 < len(iv); i++ {
		if iv[i].Healthy == iv[i+1].Healthy {
			continue
		}
		if !at.Before(iv[i].End.Add(-margin)) && !at.After(iv[i+1].Start.Add(margin)) {
			return true
		}
	}
	return false
}

// last returns the most recent interval.
func (h *history) last() (Interval, bool) {
	if len(h.iv) == 0 {
		return Interval{}, false
	}
	return h.iv[len(h.iv)-1], true
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// Observe adds the health evidence in rec at time at.
func (t *Timeline) Observe(rec *parse.Record, at time.Time) {
	forEvidence(rec, func(cluster []byte, healthy bool) { t.note(cluster, at, healthy) })
}

func (t *Timeline) note(cluster []byte, at time.Time, healthy bool) {
	if h := t.get(cluster, true); h != nil {
		h.note(at, healthy)
	}
}

func (h *history) note(at time.Time, healthy bool) {
	if len(h.iv) == 0 {
		h.iv = append(h.iv, Interval{Start: at, End: at, Healthy: healthy})
		return
	}
	last := &h.iv[len(h.iv)-1]
	if at.Before(last.End) {
		at = last.End
	}
	if last.Healthy == healthy {
		last.End = at
		return
	}
	if len(h.iv) >= h.max {
		n := copy(h.iv, h.iv[len(h.iv)/2:])
		h.iv = h.iv[:n]
	}
	h.iv = append(h.iv, Interval{Start: at, End: at, Healthy: healthy})
}

// forEvidence calls f for each cluster whose health rec shows (C6). It does not allocate.
func forEvidence(rec *parse.Record, f func(cluster []byte, healthy bool)) {
	switch rec.Result {
	case parse.ResultSuccess:
		for i, c := range rec.Clusters {
			if i < len(rec.Clusters)-1 {
				f(c, false)
			}
		}
		if fin := rec.FinalCluster(); len(fin) > 0 {
			f(fin, true)
		}
	case parse.ResultFailed:
		if len(rec.Clusters) == 0 && len(rec.UpstreamCluster) > 0 {
			f(rec.UpstreamCluster, false)
		}
		for _, c := range rec.Clusters {
			f(c, false)
		}
	case parse.ResultNone:
		if len(rec.UpstreamCluster) == 0 || len(rec.Clusters) > 0 {
			return
		}
		switch {
		case rec.Flags.Has(parse.FlagUH):
			f(rec.UpstreamCluster, false)
		case rec.Flags.Has(parse.FlagNR), rec.Flags.Has(parse.FlagNC):
		case rec.ResponseCode > 0:
			f(rec.UpstreamCluster, true)
		}
	}
}
