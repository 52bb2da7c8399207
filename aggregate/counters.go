package aggregate

import (
	"hash/maphash"
	"maps"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
	"unsafe"

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

// observeAtomic is observe for a histogram that several goroutines add to at once: a series'
// retired counts.
func (h *histData) observeAtomic(ms int64) {
	atomic.AddUint64(&h.count, 1)
	atomic.AddUint64(&h.sumMs, uint64(ms))
	for i, b := range durationBoundsMs {
		if ms <= b {
			atomic.AddUint64(&h.buckets[i], 1)
			return
		}
	}
	atomic.AddUint64(&h.buckets[len(durationBoundsMs)], 1)
}

// load returns a copy of h read with atomic loads.
func (h *histData) load() histData {
	var d histData
	d.count = atomic.LoadUint64(&h.count)
	d.sumMs = atomic.LoadUint64(&h.sumMs)
	for i := range h.buckets {
		d.buckets[i] = atomic.LoadUint64(&h.buckets[i])
	}
	return d
}

// addAtomic adds o to h with atomic adds.
func (h *histData) addAtomic(o *histData) {
	atomic.AddUint64(&h.count, o.count)
	atomic.AddUint64(&h.sumMs, o.sumMs)
	for i := range h.buckets {
		atomic.AddUint64(&h.buckets[i], o.buckets[i])
	}
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
// expiry and of records counted without an entry (see Counters.observeMiss). retired is read
// and written with atomic operations; touched tells expiry that a record was counted in retired
// since its last pass.
type reqSeries struct {
	labels   [11]string
	hist     *histSeries
	uh       *uhSeries
	next     *reqSeries
	retired  uint64
	touched  atomic.Bool
	lastSeen time.Time
	dead     bool
}

// histSeries is one fallbackwatch_request_duration_seconds series, owned by the registry.
type histSeries struct {
	labels   [3]string
	next     *histSeries
	retired  histData // atomic, like reqSeries.retired
	touched  atomic.Bool
	lastSeen time.Time
	dead     bool
}

// uhSeries is one fallbackwatch_upstream_unhealthy_total series, owned by the registry. Like
// reqSeries, its counts are in the stripes' entries that point to it, plus retired.
type uhSeries struct {
	labels   [4]string
	next     *uhSeries
	retired  uint64 // atomic, like reqSeries.retired
	touched  atomic.Bool
	lastSeen time.Time
	dead     bool
}

// chained is a registry series: a link in its hash chain that expiry can drop.
type chained[T any] interface {
	*T
	link() (next **T, lastSeen time.Time, dead *bool)
	refresh(now time.Time)
}

func (g *reqSeries) link() (**reqSeries, time.Time, *bool)   { return &g.next, g.lastSeen, &g.dead }
func (g *histSeries) link() (**histSeries, time.Time, *bool) { return &g.next, g.lastSeen, &g.dead }
func (g *uhSeries) link() (**uhSeries, time.Time, *bool)     { return &g.next, g.lastSeen, &g.dead }

func (g *reqSeries) refresh(now time.Time) {
	if g.touched.Swap(false) {
		g.lastSeen = now
	}
}

func (g *histSeries) refresh(now time.Time) {
	if g.touched.Swap(false) {
		g.lastSeen = now
	}
}

func (g *uhSeries) refresh(now time.Time) {
	if g.touched.Swap(false) {
		g.lastSeen = now
	}
}

// touch marks g as counted in since expiry's last pass, writing only when it was not marked.
func touch(b *atomic.Bool) {
	if !b.Load() {
		b.Store(true)
	}
}

// expireChains drops from reg the series last seen before cutoff, marking them dead, and
// returns how many it dropped. A series counted in without an entry since the last pass is
// seen now.
func expireChains[T any, P chained[T]](reg map[uint64]*T, now, cutoff time.Time) int {
	dropped := 0
	for h, g := range reg {
		var keep *T
		for g != nil {
			P(g).refresh(now)
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
	_       [64]byte
}

// Counters counts access-log records by the labels of docs/metrics.md. It is safe for concurrent
// use; create it with NewCounters.
//
// Its memory is bounded once for the whole process, whatever GOMAXPROCS: at most MaxSeries
// series per metric and at most maxEntries entries over all stripes. A record whose raw key has
// no entry and cannot get one — its requests series is the overflow series, or the entries are
// all taken — is counted in its series' retired counts with atomic adds, found through a
// read-only view of the registry: it allocates nothing and takes no lock but its stripe's.
type Counters struct {
	cfg        Config
	seed       maphash.Seed
	stripes    []stripe
	mask       uint64
	maxEntries int64        // over all stripes
	nEntries   atomic.Int64 // entries in all stripes

	regMu        sync.Mutex // guards the registries; taken after a stripe's lock
	reqReg       map[uint64]*reqSeries
	histReg      map[uint64]*histSeries
	uhReg        map[uint64]*uhSeries
	nReq, nHist  int
	nUH          int
	reqFull      atomic.Bool // nReq >= MaxSeries: a new label set goes to the overflow series
	histFull     atomic.Bool
	uhFull       atomic.Bool
	regGen       atomic.Uint64 // changes, under regMu, whenever a registry does
	view         atomic.Pointer[regView]
	live         regView // the registries themselves, for lookups under regMu
	stale        int     // lookups under regMu since the last view was made; guarded by regMu
	reqOverflow  *reqSeries
	histOverflow *histSeries
	uhOverflow   *uhSeries

	verdictMu       sync.Mutex
	verdicts        map[verdictKey]uint64
	verdictOverflow uint64

	snapMu sync.Mutex // one Snapshot (its expiry pass and its reads) at a time
}

type verdictKey struct{ verdict, rule string }

// regView is a copy of the registries' hash heads as of generation gen. Creating a series only
// prepends to a chain and expiry, which changes chains, runs with every stripe locked; so a
// goroutine holding a stripe's lock can walk a view's chains without the registry lock.
type regView struct {
	gen  uint64
	req  map[uint64]*reqSeries
	hist map[uint64]*histSeries
	uh   map[uint64]*uhSeries
}

// entriesPerSeries is how many entries the budget allows per series: room for each series to
// have entries in a few stripes, and for raw keys that differ in what the labels leave out.
const entriesPerSeries = 2

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
		maxEntries:   int64(entriesPerSeries*cfg.MaxSeries + 64),
		reqReg:       make(map[uint64]*reqSeries),
		histReg:      make(map[uint64]*histSeries),
		uhReg:        make(map[uint64]*uhSeries),
		histOverflow: &histSeries{labels: [3]string{o, o, o}},
		uhOverflow:   &uhSeries{labels: [4]string{o, o, o, o}},
		verdicts:     make(map[verdictKey]uint64),
	}
	c.reqOverflow = &reqSeries{labels: [11]string{o, o, o, o, o, o, o, o, o, o, o}, hist: c.histOverflow, uh: c.uhOverflow}
	c.live = regView{req: c.reqReg, hist: c.histReg, uh: c.uhReg}
	for i := range c.stripes {
		c.stripes[i].entries = make(map[uint64]*entry)
	}
	c.setFull()
	return c, nil
}

// setFull updates the registries' full flags and generation. c.regMu is held, or every stripe.
func (c *Counters) setFull() {
	c.reqFull.Store(c.nReq >= c.cfg.MaxSeries)
	c.histFull.Store(c.nHist >= c.cfg.MaxSeries)
	c.uhFull.Store(c.nUH >= c.cfg.MaxSeries)
	c.regGen.Add(1)
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
	uh := rec.Flags.Has(parse.FlagUH)
	if e == nil {
		if e = c.observeMiss(s, h, &k, rec.Duration, uh); e == nil {
			s.mu.Unlock()
			return
		}
	}
	e.count++
	if uh {
		e.uh++
	}
	e.touched = true
	if rec.Duration >= 0 {
		e.hist.observe(rec.Duration)
	}
	s.mu.Unlock()
}

// observeMiss handles a record whose raw key k has no entry in the locked stripe s. It returns a
// new entry for k, to count the record in, or nil when it counted the record itself, in its
// series' retired counts. Only a record of a real series gets an entry, and only while the
// process-wide budget lasts; a record for the overflow series, or past the budget, is counted
// through the registry view: no allocation, no registry lock. Only a record that creates a
// series or an entry, or whose invalid UTF-8 needs more repair room than the stack holds (more
// than 1 KiB of repaired values), takes the slow path.
func (c *Counters) observeMiss(s *stripe, h uint64, k *rawKey, durationMs int64, uh bool) *entry {
	var scratch [1024]byte // room for repaired values of the default MaxLabelLen and more
	lv, valid := k.labelViews(c.cfg.MaxLabelLen, scratch[:0])
	budget := c.nEntries.Load() < c.maxEntries
	if valid && (!budget || c.reqFull.Load()) {
		v, locked := c.currentView()
		g := v.reqOf(c.seed, &lv)
		var hs *histSeries
		var us *uhSeries
		if g == nil {
			hs, us = v.histOf(c.seed, &lv), v.uhOf(c.seed, &lv)
		}
		if locked {
			c.regMu.Unlock()
		}
		switch {
		case g != nil && budget:
			if c.nEntries.Add(1) <= c.maxEntries {
				return c.addEntry(s, h, k, g, g.hist, g.uh)
			}
			c.nEntries.Add(-1)
			fallthrough
		case g != nil:
			c.countRetired(g, g.hist, g.uh, durationMs, uh)
			return nil
		case c.reqFull.Load() && (hs != nil || c.histFull.Load()) && (us != nil || c.uhFull.Load()):
			if hs == nil {
				hs = c.histOverflow
			}
			if us == nil {
				us = c.uhOverflow
			}
			c.countRetired(c.reqOverflow, hs, us, durationMs, uh)
			return nil
		}
	}
	// Slow path: the label values are made and the registry locked.
	labels := k.labels(c.cfg.MaxLabelLen)
	c.regMu.Lock()
	g, hs, us := c.seriesLocked(&labels)
	c.regMu.Unlock()
	if g != c.reqOverflow {
		if c.nEntries.Add(1) <= c.maxEntries {
			return c.addEntry(s, h, k, g, hs, us)
		}
		c.nEntries.Add(-1)
	}
	c.countRetired(g, hs, us, durationMs, uh)
	return nil
}

// countRetired counts a record in the retired counts of its series.
func (c *Counters) countRetired(g *reqSeries, hs *histSeries, us *uhSeries, durationMs int64, uh bool) {
	atomic.AddUint64(&g.retired, 1)
	touch(&g.touched)
	if uh {
		atomic.AddUint64(&us.retired, 1)
	}
	touch(&us.touched)
	if durationMs >= 0 {
		hs.retired.observeAtomic(durationMs)
	}
	touch(&hs.touched)
}

// staleLookups is how many lookups may go to the registries themselves, under their lock, while
// they change, before they are copied into a new view: copying all of them for every record
// would cost more than the lock.
const staleLookups = 1024

// currentView returns a view of the registries as they are now: the last copy when they have not
// changed since, else a new copy, or, while they keep changing, the registries themselves with
// c.regMu locked (locked is then true and the caller unlocks).
func (c *Counters) currentView() (v *regView, locked bool) {
	if v := c.view.Load(); v != nil && v.gen == c.regGen.Load() {
		return v, false
	}
	c.regMu.Lock()
	gen := c.regGen.Load()
	if v := c.view.Load(); v != nil && v.gen == gen {
		c.regMu.Unlock()
		return v, false
	}
	if c.stale++; c.stale < staleLookups {
		return &c.live, true
	}
	c.stale = 0
	v = &regView{gen: gen, req: maps.Clone(c.reqReg), hist: maps.Clone(c.histReg), uh: maps.Clone(c.uhReg)}
	c.view.Store(v)
	c.regMu.Unlock()
	return v, false
}

func (v *regView) reqOf(seed maphash.Seed, lv *[11]string) *reqSeries {
	for g := v.req[labelsHash(seed, lv[:])]; g != nil; g = g.next {
		if g.labels == *lv {
			return g
		}
	}
	return nil
}

func (v *regView) histOf(seed maphash.Seed, lv *[11]string) *histSeries {
	hl := [3]string{lv[0], lv[5], lv[6]}
	for g := v.hist[labelsHash(seed, hl[:])]; g != nil; g = g.next {
		if g.labels == hl {
			return g
		}
	}
	return nil
}

func (v *regView) uhOf(seed maphash.Seed, lv *[11]string) *uhSeries {
	ul := [4]string{lv[0], lv[1], lv[8], lv[6]}
	for g := v.uh[labelsHash(seed, ul[:])]; g != nil; g = g.next {
		if g.labels == ul {
			return g
		}
	}
	return nil
}

// labelViews returns k's label values as k.labels makes them, without allocating: valid values
// are views of k's bytes, valid while the record is; invalid UTF-8 is repaired into scratch's
// spare room. The values are for looking series up only. It reports false when scratch has no
// room for a repair.
func (k *rawKey) labelViews(max int, scratch []byte) (lv [11]string, ok bool) {
	dest, primary := ClusterLabels(k.b[kPrimary])
	if len(k.b[kPrimary]) == 0 {
		dest = noneService
	}
	fbService, fbSubset := ClusterLabels(k.b[kFallback])
	finService, finSubset := ClusterLabels(k.b[kFinal])
	ok = true
	for i, b := range [...][]byte{dest, primary, fbService, fbSubset, finService, finSubset, k.b[kRoute],
		unsafe.Slice(unsafe.StringData(k.ns), len(k.ns)), unsafe.Slice(unsafe.StringData(k.wl), len(k.wl))} {
		j := i
		if i >= 6 {
			j = i + 2 // route, source namespace and workload follow result and code class
		}
		switch {
		case utf8.Valid(b):
			lv[j] = capLenString(view(b), max)
		case cap(scratch)-len(scratch) >= max:
			from := len(scratch)
			scratch = appendValid(scratch, b, from+max) // its max counts the bytes before from
			lv[j] = capLenString(view(scratch[from:]), max)
		default:
			ok = false
		}
	}
	lv[6] = resultNames[k.result]
	lv[7] = codeClassNames[k.code]
	return lv, ok
}

// view returns b's bytes as a string without copying; it must not outlive b or see b change.
func view(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

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

// addEntry adds to s an entry for k counting in series g, hs and us; its place in the budget is
// taken. s is locked.
func (c *Counters) addEntry(s *stripe, h uint64, k *rawKey, g *reqSeries, hs *histSeries, us *uhSeries) *entry {
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
			c.setFull()
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
			c.setFull()
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
	c.setFull()
	return g, hs, us
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
//
// The time is read once every lock is held: records counted while expire waited for the locks
// are seen as touched at a time no earlier than their own.
func (c *Counters) expire() {
	for i := range c.stripes {
		c.stripes[i].mu.Lock()
	}
	c.regMu.Lock()
	now := c.cfg.Now()
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
	c.nReq -= expireChains(c.reqReg, now, cutoff)
	c.nHist -= expireChains(c.histReg, now, cutoff)
	c.nUH -= expireChains(c.uhReg, now, cutoff)
	c.setFull()
	var dropped int64
	for i := range c.stripes {
		s := &c.stripes[i]
		for h, e := range s.entries {
			var keep *entry
			for e != nil {
				next := e.next
				switch {
				case e.g.dead || e.h.dead || e.u.dead:
					dropped++
					if !e.g.dead {
						atomic.AddUint64(&e.g.retired, e.count)
					}
					if !e.h.dead {
						e.h.retired.addAtomic(&e.hist)
					}
					if !e.u.dead {
						atomic.AddUint64(&e.u.retired, e.uh)
					}
				case e.lastSeen.Before(cutoff):
					dropped++
					atomic.AddUint64(&e.g.retired, e.count)
					e.h.retired.addAtomic(&e.hist)
					atomic.AddUint64(&e.u.retired, e.uh)
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
	c.nEntries.Add(-dropped)
}
