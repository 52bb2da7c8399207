package aggregate

import (
	"hash/maphash"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/fallbackwatch/fallbackwatch/parse"
)

// durationBoundsMs are the upper bounds of the duration buckets in Envoy's unit, whole
// milliseconds: a duration d falls in the first bucket with d <= bound. 2.5 ms is 2 because
// durations are integers.
var durationBoundsMs = [...]int64{1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000}

var durationBounds = [len(durationBoundsMs)]float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// DurationBuckets returns the upper bounds, in seconds, of the buckets of
// fallbackwatch_request_duration_seconds (without +Inf).
func DurationBuckets() []float64 {
	return append([]float64(nil), durationBounds[:]...)
}

// histData is a duration histogram in Envoy's unit: non-cumulative bucket counts, the last one
// for durations over every bound.
type histData struct {
	count   uint64
	sumMs   uint64
	buckets [len(durationBoundsMs) + 1]uint64
}

func (h *histData) observe(ms int64) {
	h.count++
	h.sumMs += uint64(ms)
	for i, b := range durationBoundsMs {
		if ms <= b {
			h.buckets[i]++
			return
		}
	}
	h.buckets[len(durationBoundsMs)]++
}

func (h *histData) add(o *histData) {
	h.count += o.count
	h.sumMs += o.sumMs
	for i := range h.buckets {
		h.buckets[i] += o.buckets[i]
	}
}

// Source names the sidecar that wrote a record: from the Kubernetes log path or the Kafka
// message. Empty fields are exported as empty label values.
type Source struct {
	Namespace string
	Workload  string
}

// reqSeries is one fallbackwatch_requests_total series, owned by the registry. Its counts are
// in the stripes' entries that point to it, plus retired: the counts of entries dropped by
// expiry and of records counted while a stripe was full.
type reqSeries struct {
	labels   [11]string
	hist     *histSeries
	uh       *uhSeries
	next     *reqSeries
	retired  uint64
	lastSeen time.Time
	dead     bool
}

// histSeries is one fallbackwatch_request_duration_seconds series, owned by the registry.
type histSeries struct {
	labels   [3]string
	next     *histSeries
	retired  histData
	lastSeen time.Time
	dead     bool
}

// uhSeries is one fallbackwatch_upstream_unhealthy_total series, owned by the registry. Like
// reqSeries, its counts are in the stripes' entries that point to it, plus retired.
type uhSeries struct {
	labels   [4]string
	next     *uhSeries
	retired  uint64
	lastSeen time.Time
	dead     bool
}

// chained is a registry series: a link in its hash chain that expiry can drop.
type chained[T any] interface {
	*T
	link() (next **T, lastSeen time.Time, dead *bool)
}

func (g *reqSeries) link() (**reqSeries, time.Time, *bool)   { return &g.next, g.lastSeen, &g.dead }
func (g *histSeries) link() (**histSeries, time.Time, *bool) { return &g.next, g.lastSeen, &g.dead }
func (g *uhSeries) link() (**uhSeries, time.Time, *bool)     { return &g.next, g.lastSeen, &g.dead }

// expireChains drops from reg the series last seen before cutoff, marking them dead, and
// returns how many it dropped.
func expireChains[T any, P chained[T]](reg map[uint64]*T, cutoff time.Time) int {
	dropped := 0
	for h, g := range reg {
		var keep *T
		for g != nil {
			next, lastSeen, dead := P(g).link()
			following := *next
			if lastSeen.Before(cutoff) {
				*dead = true
				dropped++
			} else {
				*next, keep = keep, g
			}
			g = following
		}
		if keep == nil {
			delete(reg, h)
		} else {
			reg[h] = keep
		}
	}
	return dropped
}

// entry holds one stripe's counts for one raw key.
type entry struct {
	keys     [6]string // the rawKey's byte fields and source, owned
	result   uint8
	code     uint8
	touched  bool
	next     *entry
	g        *reqSeries  // the requests series, possibly the overflow series
	h        *histSeries // the duration series, possibly the overflow series
	u        *uhSeries   // the upstream-unhealthy series, possibly the overflow series
	count    uint64
	uh       uint64 // records among count whose flags contain UH
	hist     histData
	lastSeen time.Time
}

func (e *entry) matches(k *rawKey) bool {
	return e.result == k.result && e.code == k.code &&
		string(k.b[kPrimary]) == e.keys[0] && string(k.b[kFallback]) == e.keys[1] &&
		string(k.b[kFinal]) == e.keys[2] && string(k.b[kRoute]) == e.keys[3] &&
		k.ns == e.keys[4] && k.wl == e.keys[5]
}

// stripe is one lock's share of the counts. A series may have entries in several stripes;
// Snapshot sums them.
type stripe struct {
	mu      sync.Mutex
	entries map[uint64]*entry
	n       int
	_       [64]byte
}

// Counters counts access-log records by the labels of docs/metrics.md. It is safe for concurrent
// use; create it with NewCounters.
type Counters struct {
	cfg        Config
	seed       maphash.Seed
	stripes    []stripe
	mask       uint64
	maxEntries int // per stripe

	regMu        sync.Mutex // guards the registries; taken after a stripe's lock
	reqReg       map[uint64]*reqSeries
	histReg      map[uint64]*histSeries
	uhReg        map[uint64]*uhSeries
	nReq, nHist  int
	nUH          int
	reqOverflow  *reqSeries
	histOverflow *histSeries
	uhOverflow   *uhSeries

	verdictMu       sync.Mutex
	verdicts        map[verdictKey]uint64
	verdictOverflow uint64

	sweepMu sync.Mutex // serializes Snapshot's expiry pass
}

type verdictKey struct{ verdict, rule string }

// NewCounters returns empty Counters bounded by cfg.
func NewCounters(cfg Config) (*Counters, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	n := 1
	for n < 4*runtime.GOMAXPROCS(0) {
		n <<= 1
	}
	o := OverflowValue
	c := &Counters{
		cfg:          cfg,
		seed:         maphash.MakeSeed(),
		stripes:      make([]stripe, n),
		mask:         uint64(n - 1),
		maxEntries:   2*cfg.MaxSeries + 64,
		reqReg:       make(map[uint64]*reqSeries),
		histReg:      make(map[uint64]*histSeries),
		uhReg:        make(map[uint64]*uhSeries),
		histOverflow: &histSeries{labels: [3]string{o, o, o}},
		uhOverflow:   &uhSeries{labels: [4]string{o, o, o, o}},
		verdicts:     make(map[verdictKey]uint64),
	}
	c.reqOverflow = &reqSeries{labels: [11]string{o, o, o, o, o, o, o, o, o, o, o}, hist: c.histOverflow, uh: c.uhOverflow}
	for i := range c.stripes {
		c.stripes[i].entries = make(map[uint64]*entry)
	}
	return c, nil
}

// Observe counts one record. route is the VirtualService route the record matched when routing
// configuration is loaded; nil means the record's route_name. "-" and empty values are exported
// as empty labels. A record whose response flags contain UH is also counted in
// fallbackwatch_upstream_unhealthy_total. Observe keeps nothing of rec or route once it returns.
func (c *Counters) Observe(rec *parse.Record, route []byte, src Source) {
	if route == nil {
		route = rec.RouteName
	}
	if len(route) == 1 && route[0] == '-' {
		route = nil
	}
	max := c.cfg.MaxLabelLen
	// A cluster name carries two label values and at most 20 bytes of kind, port and '|'.
	clusterMax := 2*max + 32
	k := rawKey{
		b: [4][]byte{
			cutRaw(rec.PrimaryCluster(), clusterMax),
			cutRaw(rec.FallbackCluster(), clusterMax),
			cutRaw(rec.FinalCluster(), clusterMax),
			cutRaw(route, max),
		},
		ns:     cutRawString(src.Namespace, max),
		wl:     cutRawString(src.Workload, max),
		result: resultIndex(rec.Result),
		code:   codeClass(rec),
	}
	h := k.hash(c.seed)
	s := c.lockStripe(h)
	e := s.entries[h]
	for e != nil && !e.matches(&k) {
		e = e.next
	}
	if e == nil {
		e = c.newEntry(s, h, &k)
	}
	if e == nil {
		// The stripe is full of entries: count in the series directly, under the registry lock.
		s.mu.Unlock()
		c.observeDirect(&k, rec.Duration, rec.Flags.Has(parse.FlagUH))
		return
	}
	e.count++
	if rec.Flags.Has(parse.FlagUH) {
		e.uh++
	}
	e.touched = true
	if rec.Duration >= 0 {
		e.hist.observe(rec.Duration)
	}
	s.mu.Unlock()
}

// lockStripe locks the stripe for hash h, or a neighbour when that one is busy, so that
// goroutines counting the same busy series do not queue on one lock.
func (c *Counters) lockStripe(h uint64) *stripe {
	home := h >> 32
	for i := uint64(0); i <= c.mask; i++ {
		s := &c.stripes[(home+i)&c.mask]
		if s.mu.TryLock() {
			return s
		}
	}
	s := &c.stripes[home&c.mask]
	s.mu.Lock()
	return s
}

// newEntry adds to s an entry for k, pointing to k's series or to the overflow series when the
// requests metric is full. It returns nil when s holds too many entries. s is locked.
func (c *Counters) newEntry(s *stripe, h uint64, k *rawKey) *entry {
	if s.n >= c.maxEntries {
		return nil
	}
	labels := k.labels(c.cfg.MaxLabelLen)
	c.regMu.Lock()
	g, hs, us := c.seriesLocked(&labels)
	c.regMu.Unlock()
	e := &entry{
		keys: [6]string{string(k.b[kPrimary]), string(k.b[kFallback]), string(k.b[kFinal]),
			string(k.b[kRoute]), strings.Clone(k.ns), strings.Clone(k.wl)},
		result: k.result, code: k.code,
		g: g, h: hs, u: us, next: s.entries[h],
	}
	if c.cfg.SeriesTTL > 0 {
		e.lastSeen = c.cfg.Now()
	}
	s.entries[h] = e
	s.n++
	return e
}

// seriesLocked finds or creates the requests, duration and upstream-unhealthy series of labels;
// each is its metric's overflow series when that metric is full. c.regMu is held.
func (c *Counters) seriesLocked(labels *[11]string) (*reqSeries, *histSeries, *uhSeries) {
	var now time.Time
	if c.cfg.SeriesTTL > 0 {
		now = c.cfg.Now()
	}
	rh := labelsHash(c.seed, labels[:])
	g := c.reqReg[rh]
	for g != nil && g.labels != *labels {
		g = g.next
	}
	if g != nil {
		g.lastSeen, g.hist.lastSeen, g.uh.lastSeen = now, now, now
		return g, g.hist, g.uh
	}

	hl := [3]string{labels[0], labels[5], labels[6]}
	hh := labelsHash(c.seed, hl[:])
	hs := c.histReg[hh]
	for hs != nil && hs.labels != hl {
		hs = hs.next
	}
	if hs == nil {
		if c.nHist < c.cfg.MaxSeries {
			hs = &histSeries{labels: hl, next: c.histReg[hh]}
			c.histReg[hh] = hs
			c.nHist++
		} else {
			hs = c.histOverflow
		}
	}
	hs.lastSeen = now

	ul := [4]string{labels[0], labels[1], labels[8], labels[6]}
	uhh := labelsHash(c.seed, ul[:])
	us := c.uhReg[uhh]
	for us != nil && us.labels != ul {
		us = us.next
	}
	if us == nil {
		if c.nUH < c.cfg.MaxSeries {
			us = &uhSeries{labels: ul, next: c.uhReg[uhh]}
			c.uhReg[uhh] = us
			c.nUH++
		} else {
			us = c.uhOverflow
		}
	}
	us.lastSeen = now

	if c.nReq >= c.cfg.MaxSeries {
		return c.reqOverflow, hs, us
	}
	g = &reqSeries{labels: *labels, hist: hs, uh: us, next: c.reqReg[rh], lastSeen: now}
	c.reqReg[rh] = g
	c.nReq++
	return g, hs, us
}

// observeDirect counts a record in its series' retired counts, for a stripe that is full.
func (c *Counters) observeDirect(k *rawKey, durationMs int64, uh bool) {
	labels := k.labels(c.cfg.MaxLabelLen)
	c.regMu.Lock()
	g, hs, us := c.seriesLocked(&labels)
	g.retired++
	if uh {
		us.retired++
	}
	if durationMs >= 0 {
		hs.retired.observe(durationMs)
	}
	c.regMu.Unlock()
}

// ObserveVerdict counts one verdict of the routing checker: verdict is consistent, inconsistent,
// warning or unknown, rule the rule the record broke (C1 … C6) or "none".
func (c *Counters) ObserveVerdict(verdict, rule string) {
	k := verdictKey{LabelValue(verdict, c.cfg.MaxLabelLen), LabelValue(rule, c.cfg.MaxLabelLen)}
	c.verdictMu.Lock()
	if n, ok := c.verdicts[k]; ok {
		c.verdicts[k] = n + 1
	} else if len(c.verdicts) < c.cfg.MaxSeries {
		c.verdicts[verdictKey{strings.Clone(k.verdict), strings.Clone(k.rule)}] = 1
	} else {
		c.verdictOverflow++
	}
	c.verdictMu.Unlock()
}

// expire drops the entries and series no record touched for SeriesTTL. Every stripe and the
// registry are locked for the pass, so no record is counted in a series being dropped. The
// counts of a dropped entry whose series lives on move to the series' retired counts, so that
// no exported value ever goes down while its series exists.
func (c *Counters) expire(now time.Time) {
	for i := range c.stripes {
		c.stripes[i].mu.Lock()
	}
	c.regMu.Lock()
	defer func() {
		c.regMu.Unlock()
		for i := range c.stripes {
			c.stripes[i].mu.Unlock()
		}
	}()
	for i := range c.stripes {
		for _, e := range c.stripes[i].entries {
			for ; e != nil; e = e.next {
				if e.touched {
					e.touched = false
					e.lastSeen, e.g.lastSeen, e.h.lastSeen, e.u.lastSeen = now, now, now, now
				}
			}
		}
	}
	cutoff := now.Add(-c.cfg.SeriesTTL)
	// A live request series touches its duration and UH series whenever it is touched.
	c.nReq -= expireChains(c.reqReg, cutoff)
	c.nHist -= expireChains(c.histReg, cutoff)
	c.nUH -= expireChains(c.uhReg, cutoff)
	for i := range c.stripes {
		s := &c.stripes[i]
		for h, e := range s.entries {
			var keep *entry
			for e != nil {
				next := e.next
				switch {
				case e.g.dead || e.h.dead || e.u.dead:
					s.n--
					if !e.g.dead {
						e.g.retired += e.count
					}
					if !e.h.dead {
						e.h.retired.add(&e.hist)
					}
					if !e.u.dead {
						e.u.retired += e.uh
					}
				case e.lastSeen.Before(cutoff):
					s.n--
					e.g.retired += e.count
					e.h.retired.add(&e.hist)
					e.u.retired += e.uh
				default:
					e.next, keep = keep, e
				}
				e = next
			}
			if keep == nil {
				delete(s.entries, h)
			} else {
				s.entries[h] = keep
			}
		}
	}
}
