package replay

import (
	"embed"
	"fmt"
	"html/template"
	"io"
	"sort"
	"strings"
	"time"
)

//go:embed assets/uPlot.iife.min.js assets/uPlot.min.css assets/report.js assets/report.css assets/report.html.tmpl
var assets embed.FS

// uplotVersion is the version of the vendored uPlot (assets/README.md).
const uplotVersion = "1.6.32"

// Bounds of the HTML page, so that a report of any input gives a page of bounded size: the
// timeline already holds at most maxBuckets entries, health at most maxHealthIntervals per
// cluster, and every string shown is cut by show.
const (
	pageServices   = 20  // services shown, most requests first
	pageRoutes     = 5   // routes shown per service, most requests first
	pageSubsets    = 10  // primary subsets shown per route, most requests first
	pageServedBy   = 4   // served-by names shown per subset, most first
	pageStory      = 12  // story sentences, the subsets with most failed fallbacks first
	pageCharts     = 60  // per-subset charts
	pageClusters   = 60  // health rows, the clusters with most unhealthy time first
	pageIntervals  = 128 // health intervals per row; beyond, neighbours are merged (coarsen)
	pageLocated    = 100 // violations and warnings listed
	pageObjects    = 200 // routing objects and fallback edges listed
	pageWorst      = maxWorst
	pageRuleDocURL = "https://github.com/fallbackwatch/fallbackwatch/blob/main/docs/fallback-semantics.md#e-checking-a-recorded-decision-replay"
)

// rules explains the checks a violation or warning names; the full text is section E of
// docs/fallback-semantics.md.
var rules = []struct{ ID, Text string }{
	{"C1", "A record without fallback metadata must have been served by a destination of its route with weight above 0; a 503 UH from a destination that has a fallback configured should have fallen back."},
	{"C2", "A successful fallback goes from a weighted destination of the route to exactly that destination's configured fallback target, which served the request; no NR or NC flag."},
	{"C3", "A failed fallback is a 503 with UH from a destination that has a fallback configured, with no final cluster, and a path that names the configured target if any."},
	{"C4", "A fallback path has at most two clusters (R17: a target's own fallback is never taken), unless multi-hop checking is enabled."},
	{"C5", "No-route (NR), no-cluster (NC) and direct-response records carry no fallback metadata."},
	{"C6", "Health changes over time: a decision close to a health change the log shows is a warning, not a violation."},
}

type pageFigure struct {
	Label  string
	Value  int64
	Figure string // the value's path in the JSON report, for the browser test
	Detail string
}

type pageSubset struct {
	SubsetView
	ServedByText string
	Figure       string
	Chart        int // index in chartData.Charts; -1 when not drawn
}

type pageRoute struct {
	Route    string
	Requests int64
	Subsets  []pageSubset
	More     int
}

type pageService struct {
	ServiceView
	ServedByText string
	Routes       []pageRoute
	More         int
}

type chartSeries struct {
	Title   string  `json:"title"`
	X       []int64 `json:"x"`
	Total   []int64 `json:"requests"`
	Routed  []int64 `json:"routed"`
	Success []int64 `json:"fallback_success"`
	Failed  []int64 `json:"fallback_failed"`
	UH      []int64 `json:"no_fallback_uh"`
	Other   []int64 `json:"other,omitempty"`
	points  map[int64]*Minute
	order   []int64
}

type chartData struct {
	Min    int64          `json:"min"`
	Max    int64          `json:"max"`
	Bucket string         `json:"bucket"`
	Charts []*chartSeries `json:"charts"`
}

type healthSegment struct {
	Left, Width float64
	State       string
	Title       string
}

type healthRow struct {
	Cluster     string
	FallsBackTo string
	Segments    []healthSegment
}

type healthTick struct {
	Left  float64
	Label string
}

type page struct {
	R            *Report
	Title        string
	Range        string
	Headline     []pageFigure
	Story        []string
	Services     []pageService
	ServicesMore int
	Charts       chartData
	ChartsMore   int
	Health       []healthRow
	HealthTicks  []healthTick
	HealthMore   int
	BucketName   string
	Worst        []Minute
	Violations   []Located
	Warnings     []Located
	Rules        []struct{ ID, Text string }
	RuleDocURL   string
	Routing      *RoutingUsed
	RoutingMore  int
	UPlotVersion string
	UPlotJS      template.JS
	UPlotCSS     template.CSS
	JS           template.JS
	CSS          template.CSS
}

var pageTemplate = template.Must(template.New("report.html.tmpl").Funcs(template.FuncMap{
	"show":  show,
	"none":  orNone,
	"route": routeName,
	"pct":   pct,
	"clock": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04") },
	"at":    func(t time.Time) string { return t.UTC().Format("15:04:05") },
	"rulelink": func(id string) bool {
		for _, r := range rules {
			if r.ID == id {
				return true
			}
		}
		return false
	},
	"add": func(a ...int64) int64 {
		var s int64
		for _, x := range a {
			s += x
		}
		return s
	},
}).ParseFS(assets, "assets/report.html.tmpl"))

// WriteHTML writes the report as one self-contained HTML page: the headline, a chart per service,
// route and primary subset of requests by outcome over time, the health timeline of each
// cluster beside its configured fallbacks, the worst minutes, the violations with the rules they
// break, and the routing configuration used. Scripts and styles are embedded; the page asks no
// network address for anything. Its size is bounded whatever the input (see the page* bounds).
func (r *Report) WriteHTML(w io.Writer) error {
	p, err := r.page()
	if err != nil {
		return err
	}
	return pageTemplate.Execute(w, p)
}

func (r *Report) page() (*page, error) {
	p := &page{R: r, Title: "fallbackwatch replay", BucketName: bucketName(r.BucketSeconds), RuleDocURL: pageRuleDocURL,
		Rules: rules, UPlotVersion: uplotVersion}
	for name, dst := range map[string]any{
		"assets/uPlot.iife.min.js": &p.UPlotJS, "assets/uPlot.min.css": &p.UPlotCSS,
		"assets/report.js": &p.JS, "assets/report.css": &p.CSS,
	} {
		b, err := assets.ReadFile(name)
		if err != nil {
			return nil, err
		}
		switch d := dst.(type) {
		case *template.JS:
			*d = template.JS(b)
		case *template.CSS:
			*d = template.CSS(b)
		}
	}
	if r.First != nil {
		p.Range = fmt.Sprintf("%s to %s UTC (%s)", r.First.UTC().Format("2006-01-02 15:04:05"),
			r.Last.UTC().Format("2006-01-02 15:04:05"), r.Last.Sub(*r.First).Round(time.Second))
	}
	p.Headline = []pageFigure{
		{"input lines", r.Lines.Total, "lines.total", fmt.Sprintf("in %d file(s)", len(r.Files))},
		{"records", r.Lines.Records, "lines.records", ""},
		{"rejected", r.Lines.Rejected, "lines.rejected", counts(r.RejectedReasons)},
		{"skipped", r.Lines.Skipped, "lines.skipped", counts(r.SkippedReasons)},
	}
	if r.Checked {
		for _, v := range []string{"consistent", "inconsistent", "warning", "unknown"} {
			p.Headline = append(p.Headline, pageFigure{v, r.Verdicts[v], "verdicts." + v, "routing checks"})
		}
	}
	p.services()
	p.health()
	p.Worst = r.WorstMinutes(pageWorst)
	p.Violations = firstN(r.Violations, pageLocated)
	p.Warnings = firstN(r.Warnings, pageLocated)
	if u := r.Routing; u != nil {
		cut := *u
		cut.Objects = firstN(u.Objects, pageObjects)
		cut.Edges = firstN(u.Edges, pageObjects)
		p.RoutingMore = len(u.Objects) - len(cut.Objects) + len(u.Edges) - len(cut.Edges)
		p.Routing = &cut
	}
	return p, nil
}

func firstN[T any](l []T, n int) []T {
	if len(l) > n {
		return l[:n]
	}
	return l
}

// services lays out the per-service tables and the charts, and tells the story of each primary
// subset that fell back.
func (p *page) services() {
	r := p.R
	all := r.Services()
	sort.SliceStable(all, func(i, j int) bool { return all[i].Requests > all[j].Requests })
	p.ServicesMore = len(all) - min(len(all), pageServices)
	all = firstN(all, pageServices)
	sort.SliceStable(all, func(i, j int) bool { return all[i].Service < all[j].Service })
	p.Charts = chartData{Bucket: bucketName(r.BucketSeconds), Charts: []*chartSeries{}}
	if r.First != nil {
		w := max(r.BucketSeconds, 1)
		p.Charts.Min = floorDiv(r.First.Unix(), w) * w
		p.Charts.Max = floorDiv(r.Last.Unix(), w)*w + w
	}
	byKey := map[[3]string]*chartSeries{}
	type storyOf struct {
		failed, fellBack int64
		text             string
	}
	var stories []storyOf
	defer func() {
		sort.SliceStable(stories, func(i, j int) bool {
			if stories[i].failed != stories[j].failed {
				return stories[i].failed > stories[j].failed
			}
			return stories[i].fellBack > stories[j].fellBack
		})
		for _, s := range firstN(stories, pageStory) {
			p.Story = append(p.Story, s.text)
		}
	}()
	for _, sv := range all {
		ps := pageService{ServiceView: sv, ServedByText: cutShares(sv.ServedBy, sv.Requests)}
		routes := append([]RouteView(nil), sv.Routes...)
		sort.SliceStable(routes, func(i, j int) bool { return routes[i].Requests > routes[j].Requests })
		ps.More = len(routes) - min(len(routes), pageRoutes)
		routes = firstN(routes, pageRoutes)
		sort.SliceStable(routes, func(i, j int) bool { return routes[i].Route < routes[j].Route })
		for _, rv := range routes {
			pr := pageRoute{Route: rv.Route, Requests: rv.Requests}
			subs := append([]SubsetView(nil), rv.Subsets...)
			sort.SliceStable(subs, func(i, j int) bool { return subs[i].Requests > subs[j].Requests })
			pr.More = len(subs) - min(len(subs), pageSubsets)
			subs = firstN(subs, pageSubsets)
			sort.SliceStable(subs, func(i, j int) bool { return subs[i].Subset < subs[j].Subset })
			for _, s := range subs {
				pss := pageSubset{SubsetView: s, Chart: -1, ServedByText: cutShares(s.ServedBy, s.Requests),
					Figure: "subset:" + sv.Service + "|" + rv.Route + "|" + s.Subset}
				if len(p.Charts.Charts) < pageCharts {
					pss.Chart = len(p.Charts.Charts)
					c := &chartSeries{Title: show(sv.Service) + " · " + show(routeName(rv.Route)) + " · " + show(orNone(s.Subset)),
						points: map[int64]*Minute{}}
					p.Charts.Charts = append(p.Charts.Charts, c)
					byKey[[3]string{sv.Service, rv.Route, s.Subset}] = c
				} else {
					p.ChartsMore++
				}
				if s.FellBack > 0 {
					stories = append(stories, storyOf{s.Failed, s.FellBack, story(r, sv.Service, rv.Route, &s)})
				}
				pr.Subsets = append(pr.Subsets, pss)
			}
			ps.Routes = append(ps.Routes, pr)
		}
		p.Services = append(p.Services, ps)
	}
	for i := range r.Timeline {
		m := &r.Timeline[i]
		c := byKey[[3]string{m.DestinationService, m.Route, m.PrimarySubset}]
		if c == nil {
			continue
		}
		at := m.Minute.Unix()
		x := c.points[at]
		if x == nil {
			x = &Minute{}
			c.points[at] = x
			c.order = append(c.order, at)
		}
		x.add(m)
	}
	for _, c := range p.Charts.Charts {
		c.fill(p.Charts.Min, p.Charts.Max, max(r.BucketSeconds, 1))
	}
}

// fill lays out a chart's columns: its buckets, and a zero on either side of each run of
// buckets, so that lines drop to zero where the subset had no requests. The columns hold at most
// three times the subset's timeline entries.
func (c *chartSeries) fill(lo, hi, w int64) {
	xs := map[int64]bool{}
	for _, at := range c.order {
		xs[at] = true
		for _, n := range []int64{at - w, at + w} {
			if n >= lo && n < hi {
				xs[n] = true
			}
		}
	}
	c.X = make([]int64, 0, len(xs))
	for x := range xs {
		c.X = append(c.X, x)
	}
	sort.Slice(c.X, func(i, j int) bool { return c.X[i] < c.X[j] })
	n := len(c.X)
	c.Total, c.Routed, c.Success, c.Failed, c.UH = make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
	other := make([]int64, n)
	var anyOther bool
	for i, x := range c.X {
		if m := c.points[x]; m != nil {
			c.Total[i], c.Routed[i], c.Success[i], c.Failed[i], c.UH[i] = m.Requests, m.Routed, m.FallbackSuccess, m.FallbackFailed, m.NoFallbackUH
			other[i] = m.Requests - m.Routed - m.FallbackSuccess - m.FallbackFailed - m.NoFallbackUH
			anyOther = anyOther || other[i] != 0
		}
	}
	if anyOther {
		c.Other = other
	}
	c.points, c.order = nil, nil
}

// story says in one sentence what happened to a primary subset that fell back.
func story(r *Report, svc, route string, s *SubsetView) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s of %s (route %s): %d of %d requests fell back (%s)", show(orNone(s.Subset)), show(svc), show(routeName(route)),
		s.FellBack, s.Requests, pct(s.FellBack, s.Requests))
	if s.FirstFallback != nil {
		fmt.Fprintf(&b, ", from %s", s.FirstFallback.UTC().Format("15:04"))
	}
	if ivs := r.Health[s.Cluster]; len(ivs) > 0 {
		for _, iv := range ivs {
			if !iv.Healthy {
				fmt.Fprintf(&b, "; first shown unhealthy at %s", iv.Start.UTC().Format("15:04:05"))
				break
			}
		}
	}
	fmt.Fprintf(&b, "; finally served by %s", cutShares(s.ServedBy, s.Requests))
	if s.Failed > 0 {
		fmt.Fprintf(&b, "; %d fallbacks failed (%s)", s.Failed, pct(s.Failed, s.Requests))
		if s.FirstFailed != nil {
			fmt.Fprintf(&b, ", the first at %s", s.FirstFailed.UTC().Format("15:04"))
		}
	} else {
		b.WriteString("; no fallback failed")
	}
	b.WriteString(".")
	return b.String()
}

// health lays out one row per cluster over the report's time range: the clusters with the most
// unhealthy time first, each cut to pageIntervals intervals.
func (p *page) health() {
	r := p.R
	if r.First == nil || len(r.Health) == 0 {
		return
	}
	views := r.HealthViews()
	bad := func(h *HealthView) time.Duration {
		var d time.Duration
		for _, iv := range h.Intervals {
			if !iv.Healthy {
				d += iv.End.Sub(iv.Start)
			}
		}
		return d
	}
	if len(views) > pageClusters {
		sort.SliceStable(views, func(i, j int) bool { return bad(&views[i]) > bad(&views[j]) })
		p.HealthMore = len(views) - pageClusters
		views = views[:pageClusters]
		sort.SliceStable(views, func(i, j int) bool { return views[i].Cluster < views[j].Cluster })
	}
	p.HealthMore += int(r.HealthDropped)
	lo, hi := *r.First, *r.Last
	span := hi.Sub(lo)
	if span <= 0 {
		span = time.Second
	}
	pos := func(t time.Time) float64 {
		f := 100 * float64(t.Sub(lo)) / float64(span)
		return min(max(f, 0), 100)
	}
	for _, h := range views {
		ivs := append([]HealthInterval(nil), h.Intervals...)
		for len(ivs) > pageIntervals {
			ivs = coarsen(ivs)
		}
		row := healthRow{Cluster: h.Cluster, FallsBackTo: strings.Join(h.FallsBackTo, ", ")}
		for _, iv := range ivs {
			left := pos(iv.Start)
			width := max(pos(iv.End)-left, 0.4)
			row.Segments = append(row.Segments, healthSegment{Left: round2(left), Width: round2(min(width, 100-left)), State: iv.State,
				Title: fmt.Sprintf("%s %s–%s", iv.State, iv.Start.UTC().Format("15:04:05"), iv.End.UTC().Format("15:04:05"))})
		}
		p.Health = append(p.Health, row)
	}
	step := tickStep(span)
	for t := lo.Truncate(step); !t.After(hi); t = t.Add(step) {
		if t.Before(lo) {
			continue
		}
		label := t.UTC().Format("15:04")
		if span > 48*time.Hour {
			label = t.UTC().Format("01-02 15:04")
		}
		p.HealthTicks = append(p.HealthTicks, healthTick{Left: round2(pos(t)), Label: label})
	}
}

// tickStep is the shortest round step that puts at most eight ticks on a span.
func tickStep(span time.Duration) time.Duration {
	for _, s := range []time.Duration{time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute,
		30 * time.Minute, time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour} {
		if span/s <= 8 {
			return s
		}
	}
	d := 24 * time.Hour
	for span/d > 8 {
		d *= 2
	}
	return d
}

func round2(f float64) float64 { return float64(int64(f*100+0.5)) / 100 }

// cutShares is shares of the first pageServedBy names, and how many more there are.
func cutShares(l []Share, total int64) string {
	if len(l) <= pageServedBy {
		return shares(l, total)
	}
	return fmt.Sprintf("%s and %d more", shares(l[:pageServedBy], total), len(l)-pageServedBy)
}
