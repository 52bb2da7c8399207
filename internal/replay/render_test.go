package replay

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"html/template"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/net/html"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

const shippedLog = "../../testdata/logs/bookinfo-productpage.log"

// shippedReport replays the shipped Bookinfo log against sample2, as the README's first command
// does.
func shippedReport(t testing.TB) *Report {
	t.Helper()
	f, err := os.Open(shippedLog)
	require.NoError(t, err)
	defer f.Close()
	rep, err := Run(context.Background(), []Input{{Name: "testdata/logs/bookinfo-productpage.log", R: f}},
		Options{Workers: 2, BlockBytes: 8192, Config: bookinfoConfig(t)})
	require.NoError(t, err)
	// The report names the files as given; show them as the README's command gives them, from
	// the repository's root.
	u := rep.Routing
	for i := range u.Files {
		u.Files[i] = strings.TrimPrefix(u.Files[i], "../../")
	}
	for i := range u.Objects {
		u.Objects[i].File = strings.TrimPrefix(u.Objects[i].File, "../../")
	}
	for i := range u.Edges {
		u.Edges[i].File = strings.TrimPrefix(u.Edges[i].File, "../../")
	}
	return rep
}

type outcome struct{ requests, routed, success, failed, uh int64 }

// oracleTimeline counts the shipped log's outcomes per minute and primary subset with
// encoding/json, straight from the fields the semantics name: the primary is the first cluster of
// fallback_path, else upstream_cluster (C1–C3); fallback_result says success or failure (R23);
// without it, UH means 503 without fallback (R14), else the primary served.
func oracleTimeline(t *testing.T) map[string]outcome {
	t.Helper()
	f, err := os.Open(shippedLog)
	require.NoError(t, err)
	defer f.Close()
	out := map[string]outcome{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var rec map[string]any
		if json.Unmarshal(sc.Bytes(), &rec) != nil {
			continue // Envoy's own text lines
		}
		primary, _ := rec["upstream_cluster"].(string)
		if p, _ := rec["fallback_path"].(string); p != "" && p != "-" {
			primary = strings.Split(p, ":")[0]
		}
		at, err := time.Parse(time.RFC3339, rec["start_time"].(string))
		require.NoError(t, err)
		k := at.UTC().Truncate(time.Minute).Format("15:04") + " " + strings.Split(primary, "|")[2]
		o := out[k]
		o.requests++
		switch res, _ := rec["fallback_result"].(string); {
		case res == "fallback successful":
			o.success++
		case res == "fallback cluster is unhealthy":
			o.failed++
		case strings.Contains(rec["response_flags"].(string), "UH"):
			o.uh++
		default:
			o.routed++
		}
		out[k] = o
	}
	require.NoError(t, sc.Err())
	return out
}

// The timeline of the report model (which every format draws) counts each outcome as a second
// decoder reads it from the log.
func TestTimelineOutcomesMatchOracle(t *testing.T) {
	rep := shippedReport(t)
	require.Equal(t, int64(60), rep.BucketSeconds)
	got := map[string]outcome{}
	for _, m := range rep.Timeline {
		require.Equal(t, "default/reviews-route#0", m.Route)
		k := m.Minute.Format("15:04") + " " + m.PrimarySubset
		got[k] = outcome{m.Requests, m.Routed, m.FallbackSuccess, m.FallbackFailed, m.NoFallbackUH}
	}
	require.Equal(t, oracleTimeline(t), got)
}

// The views tell the seed's story (testdata/logs/README.md): v3's half falls back to v2, then
// fails once v2 is down too (R16, one hop only: R17); v2's half falls back to v1 and never fails.
func TestServicesViewTellsTheSeedStory(t *testing.T) {
	rep := shippedReport(t)
	svcs := rep.Services()
	require.Len(t, svcs, 1)
	s := svcs[0]
	require.Equal(t, "reviews.default.svc.cluster.local", s.Service)
	require.Equal(t, rep.Lines.Records, s.Requests)
	require.Len(t, s.Routes, 1)
	subs := s.Routes[0].Subsets
	require.Len(t, subs, 2)
	v2, v3 := subs[0], subs[1]
	require.Equal(t, "v2", v2.Subset)
	require.Zero(t, v2.Failed, "R17: v2's fallback to v1 is healthy")
	for _, sh := range v2.ServedBy {
		require.Contains(t, []string{"v1", "v2"}, sh.Name)
	}
	require.Equal(t, "v3", v3.Subset)
	require.Positive(t, v3.Failed)
	require.Equal(t, s.FailedFallbacks, v3.Failed)
	require.NotNil(t, v3.FirstFallback)
	require.True(t, v3.FirstFallback.Before(*v3.FirstFailed), "v3 fell back to v2 before v2 went down")
	require.True(t, v3.FirstFallback.Before(*v2.FirstFallback))
	// v3's fallbacks fail only once v2 is shown unhealthy.
	v2Down := firstUnhealthy(rep.Health["outbound|9080|v2|reviews.default.svc.cluster.local"])
	require.False(t, v3.FirstFailed.Add(time.Minute).Before(v2Down))

	worst := rep.WorstMinutes(maxWorst)
	require.NotEmpty(t, worst)
	require.Equal(t, "v3", worst[0].PrimarySubset, "the worst minute is one of v3's failed fallbacks")
	require.Positive(t, worst[0].FallbackFailed)

	hv := rep.HealthViews()
	edges := map[string][]string{}
	for _, h := range hv {
		_, sub := serviceSubset([]byte(h.Cluster))
		edges[sub] = h.FallsBackTo
	}
	require.Equal(t, map[string][]string{"v1": nil, "v2": {"v1"}, "v3": {"v2"}}, edges, "sample2's edges (R3)")
	require.Len(t, rep.Routing.Objects, 2)
}

func firstUnhealthy(ivs []HealthInterval) time.Time {
	for _, iv := range ivs {
		if !iv.Healthy {
			return iv.Start
		}
	}
	return time.Time{}
}

// golden compares got with testdata/<name>, or rewrites it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(path, got, 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./internal/replay -run %s -update", t.Name())
	require.Equal(t, string(want), string(got))
}

func TestMarkdownGolden(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, shippedReport(t).WriteMarkdown(&b))
	golden(t, "bookinfo.md", b.Bytes())
}

// pageWithoutAssets renders the page with placeholders for the embedded scripts and styles, so
// that its golden file holds the page's structure only.
func pageWithoutAssets(t *testing.T, r *Report) []byte {
	t.Helper()
	p, err := r.page()
	require.NoError(t, err)
	p.UPlotJS, p.JS = template.JS("/* script */"), template.JS("/* script */")
	p.UPlotCSS, p.CSS = template.CSS("/* style */"), template.CSS("/* style */")
	var b bytes.Buffer
	require.NoError(t, pageTemplate.Execute(&b, p))
	return b.Bytes()
}

func TestHTMLGolden(t *testing.T) {
	golden(t, "bookinfo.html", pageWithoutAssets(t, shippedReport(t)))
}

// The page is one file: every script and style is inline, and nothing in it names a network
// address to load (links a person may follow are not loads).
func TestHTMLIsSelfContained(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, shippedReport(t).WriteHTML(&b))
	doc, err := html.Parse(&b)
	require.NoError(t, err)
	var scripts int
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			for _, a := range n.Attr {
				switch a.Key {
				case "src", "srcset", "poster", "data", "action":
					t.Errorf("<%s %s=%q> loads a resource", n.Data, a.Key, a.Val)
				case "href":
					if n.Data != "a" {
						t.Errorf("<%s href=%q> loads a resource", n.Data, a.Val)
					}
				}
			}
			if n.Data == "script" {
				scripts++
			}
			require.NotEqual(t, "iframe", n.Data)
		}
		if n.Type == html.TextNode && n.Parent != nil && n.Parent.Data == "style" {
			require.NotContains(t, n.Data, "url(http", "styles load nothing")
			require.NotContains(t, n.Data, "@import")
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	require.Equal(t, 3, scripts, "chart data, uPlot and the page's script")
}

// Input-derived strings are text on the page, never markup: a route, cluster, file name or
// message holding a script element stays inert, in HTML and in markdown.
func TestHostileInputIsEscaped(t *testing.T) {
	evil := `</script><script>alert(1)</script><img src=x onerror=alert(2)>`
	at := time.Date(2023, 5, 30, 7, 0, 0, 0, time.UTC)
	r := &Report{
		Lines: LineCounts{Total: 2, Records: 2}, Checked: true, BucketSeconds: 60, First: &at, Last: &at,
		Verdicts: map[string]int64{"inconsistent": 1}, ViolationsTotal: 1,
		Notes: []string{evil},
		Groups: []Group{{DestinationService: evil, Route: evil, PrimaryCluster: evil, PrimarySubset: evil,
			FallbackCluster: evil, Result: "failed", Requests: 2}},
		Timeline:   []Minute{{Minute: at, DestinationService: evil, Route: evil, PrimarySubset: evil, Requests: 2, FallbackFailed: 2}},
		Health:     map[string][]HealthInterval{evil: {{Start: at, End: at, State: StateUnhealthy}}},
		Violations: []Located{{File: evil, Line: 1, Rule: evil, Route: evil, Message: evil}},
		Routing:    &RoutingUsed{Files: []string{evil}, Objects: []RoutingObject{{Kind: "VirtualService", ID: evil, File: evil, Hosts: []string{evil}}}},
	}
	var b bytes.Buffer
	require.NoError(t, r.WriteHTML(&b))
	page := b.String()
	require.NotContains(t, page, "<script>alert")
	require.NotContains(t, page, "<img")
	doc, err := html.Parse(strings.NewReader(page))
	require.NoError(t, err)
	var scripts, imgs int
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "script" {
			scripts++
		}
		if n.Type == html.ElementNode && n.Data == "img" {
			imgs++
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	require.Equal(t, 3, scripts)
	require.Zero(t, imgs)

	b.Reset()
	require.NoError(t, r.WriteMarkdown(&b))
	require.NotContains(t, b.String(), "<script")
	require.NotContains(t, b.String(), "<img")
}

// maxPageBytes is the bound on the HTML page of any input: the largest report the bounds of the
// replay allow renders under it.
const maxPageBytes = 3 << 20

// The largest report the replay's bounds allow (groups, timeline entries, health, located lines,
// all at their limits, every string at its longest) gives a page under maxPageBytes.
func TestHTMLSizeIsBounded(t *testing.T) {
	long := func(prefix string, i int) string {
		s := fmt.Sprintf("%s-%d-", prefix, i)
		return s + strings.Repeat("x", 300-len(s))
	}
	t0 := time.Date(2023, 5, 30, 0, 0, 0, 0, time.UTC)
	t1 := t0.Add(maxBuckets * 60 * time.Minute)
	r := &Report{Lines: LineCounts{Total: 10_000_000, Records: 10_000_000}, Checked: true, BucketSeconds: 3600,
		First: &t0, Last: &t1, Verdicts: map[string]int64{"inconsistent": 10_000_000}, ViolationsTotal: 10_000_000,
		Health: map[string][]HealthInterval{}}
	for i := 0; i < maxGroups; i++ {
		svc := long("svc", i%300)
		r.Groups = append(r.Groups, Group{DestinationService: svc, Route: long("route", i%7), PrimaryCluster: long("c", i),
			PrimarySubset: long("sub", i), FinalCluster: long("f", i), Result: "failed", Requests: 500})
	}
	for i := 0; i < maxBuckets; i++ {
		g := r.Groups[i%len(r.Groups)]
		r.Timeline = append(r.Timeline, Minute{Minute: t0.Add(time.Duration(i) * time.Hour), DestinationService: g.DestinationService,
			Route: g.Route, PrimarySubset: g.PrimarySubset, PrimaryCluster: g.PrimaryCluster, Requests: 1 << 40, FallbackFailed: 1 << 40})
	}
	for c := 0; c < maxHealthClusters; c++ {
		var ivs []HealthInterval
		for i := 0; i < maxHealthIntervals; i++ {
			ivs = append(ivs, HealthInterval{Start: t0.Add(time.Duration(i) * time.Hour), End: t0.Add(time.Duration(i)*time.Hour + 30*time.Minute),
				State: []string{StateHealthy, StateUnhealthy}[i%2], Healthy: i%2 == 0})
		}
		r.Health[long("cluster", c)] = ivs
	}
	for i := 0; i < 1000; i++ {
		r.Violations = append(r.Violations, Located{File: long("file", i), Line: int64(i), Rule: "C2", Route: long("route", i), Message: long("message", i)})
		r.Warnings = append(r.Warnings, Located{File: long("file", i), Line: int64(i), Rule: "C6", Route: long("route", i), Message: long("message", i)})
	}
	r.Routing = &RoutingUsed{}
	for i := 0; i < 5000; i++ {
		r.Routing.Files = append(r.Routing.Files, long("file", i%50))
		r.Routing.Objects = append(r.Routing.Objects, RoutingObject{Kind: "VirtualService", ID: long("vs", i), File: long("file", i), Hosts: []string{long("h", i)}})
		r.Routing.Edges = append(r.Routing.Edges, FallbackEdge{Route: long("r", i), FromService: long("s", i), ToService: long("s", i), File: long("file", i)})
	}
	r.Routing.Files = r.Routing.Files[:50]
	var b bytes.Buffer
	require.NoError(t, r.WriteHTML(&b))
	t.Logf("page of the largest report: %d bytes", b.Len())
	require.Less(t, b.Len(), maxPageBytes)
}
