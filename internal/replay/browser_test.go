package replay

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/fallbackwatch/fallbackwatch/internal/realtools"
)

var screenshot = flag.String("screenshot", "", "where TestHTMLInBrowser writes its screenshot of the Bookinfo page (default: the test's temporary directory)")

// chromium returns the path of Debian's chromium (or another Chromium build on PATH); without
// one the test fails under CI=true, where make deps installs it, and is skipped otherwise.
func chromium(t *testing.T) string {
	t.Helper()
	return realtools.Path(t, "install Debian's chromium package (make deps)",
		"chromium", "chromium-browser", "google-chrome-stable", "google-chrome")
}

// browserFindings is what the page showed in the browser.
type browserFindings struct {
	Figures map[string]string `json:"figures"` // data-figure of the tables and headline → text
	Charts  []struct {
		Figure   string `json:"figure"`
		Canvases int    `json:"canvases"`
		UPlot    bool   `json:"uplot"`
		Outcomes string `json:"outcomes"`
		Requests string `json:"requests"`
		Legend   int    `json:"legend"`
	} `json:"charts"`
	HealthRows     int `json:"healthRows"`
	HealthSegments int `json:"healthSegments"`
}

const collectFindings = `(() => {
  const figures = {};
  document.querySelectorAll("[data-figure]:not(.chart)").forEach(el => { figures[el.dataset.figure] = el.textContent.trim(); });
  const charts = [...document.querySelectorAll("div.chart")].map(el => ({
    figure: el.dataset.figure,
    canvases: el.querySelectorAll("canvas").length,
    uplot: el.querySelector(".uplot") !== null,
    outcomes: el.dataset.plottedOutcomes || "",
    requests: el.dataset.plottedRequests || "",
    legend: el.querySelectorAll(".u-legend .u-series").length,
  }));
  return { figures, charts,
    healthRows: document.querySelectorAll(".hrow[data-cluster]").length,
    healthSegments: document.querySelectorAll(".hrow[data-cluster] .seg").length };
})()`

// TestHTMLInBrowser opens the Bookinfo page in headless Chromium from a file:// URL, with the
// network off and every request watched: the page asks no network address for anything, logs no
// error, draws its charts, and shows the figures of the JSON report.
func TestHTMLInBrowser(t *testing.T) {
	bin := chromium(t)
	rep := shippedReport(t)
	dir := t.TempDir()
	var page, js bytes.Buffer
	require.NoError(t, rep.WriteHTML(&page))
	require.NoError(t, rep.WriteJSON(&js))
	path := filepath.Join(dir, "report.html")
	require.NoError(t, os.WriteFile(path, page.Bytes(), 0o644))

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, chromedp.ExecPath(bin), chromedp.Headless, chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.WindowSize(1280, 1000),
		chromedp.Flag("user-data-dir", filepath.Join(dir, "profile")),
		// The network is off: no name resolves and every connection goes to a closed proxy.
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND"),
		chromedp.Flag("proxy-server", "127.0.0.1:9"),
		chromedp.Flag("no-first-run", true), chromedp.Flag("no-default-browser-check", true))
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	// The browser is stopped by its pid when the test ends, and must be gone.
	var pid int
	defer func() {
		cancelBrowser()
		cancelAlloc()
		if pid > 0 {
			if err := syscall.Kill(pid, 0); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
				t.Errorf("chromium (pid %d) still ran after the test", pid)
			}
		}
	}()

	var mu sync.Mutex
	var problems []string
	note := func(format string, args ...any) {
		mu.Lock()
		problems = append(problems, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	require.NoError(t, chromedp.Listen(bctx, func(ev any) {
		switch e := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeAssert {
				var args []string
				for _, a := range e.Args {
					args = append(args, string(a.Value)+a.Description)
				}
				note("console.%s: %s", e.Type, strings.Join(args, " "))
			}
		case *runtime.EventExceptionThrown:
			note("uncaught exception: %s %s", e.ExceptionDetails.Text, describe(e.ExceptionDetails.Exception))
		case *log.EventEntryAdded:
			if e.Entry.Level == log.EntryLevelError {
				note("log error: %s (%s)", e.Entry.Text, e.Entry.URL)
			}
		case *network.EventRequestWillBeSent:
			if u := e.Request.URL; !strings.HasPrefix(u, "file://") && !strings.HasPrefix(u, "data:") {
				note("request to %s", u)
			}
		}
	}))
	if p := chromedp.FromContext(bctx).Browser.Process(); p != nil {
		pid = p.Pid
	}
	_, err := chromedp.Call(bctx, network.OverrideNetworkState, network.OverrideNetworkStateParams{Offline: true})
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(bctx, chromedp.Navigate("file://"+path), chromedp.WaitReady("body[data-charts-drawn]")))
	found, err := chromedp.Run(bctx, chromedp.Evaluate[browserFindings](collectFindings))
	require.NoError(t, err)
	shot, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	out := *screenshot
	if out == "" {
		out = filepath.Join(dir, "report.png")
	}
	require.NoError(t, os.WriteFile(out, shot, 0o644))
	t.Logf("screenshot: %s (%d bytes)", out, len(shot))

	mu.Lock()
	require.Empty(t, problems, "the page must log no error and load nothing")
	mu.Unlock()

	// The figures come from the JSON report, decoded generically.
	var want map[string]any
	require.NoError(t, json.Unmarshal(js.Bytes(), &want))
	num := func(v any) string {
		if v == nil {
			return "0"
		}
		return strconv.FormatFloat(v.(float64), 'f', -1, 64)
	}
	lines := want["lines"].(map[string]any)
	verdicts := want["verdicts"].(map[string]any)
	for _, k := range []string{"total", "records", "rejected", "skipped"} {
		require.Equal(t, num(lines[k]), found.Figures["lines."+k], "lines.%s", k)
	}
	for _, k := range []string{"consistent", "inconsistent", "warning", "unknown"} {
		require.Equal(t, num(verdicts[k]), found.Figures["verdicts."+k], "verdicts.%s", k)
	}
	require.Equal(t, num(want["violations_total"]), found.Figures["violations_total"])

	subsets := map[string]float64{}
	for _, g := range want["groups"].([]any) {
		g := g.(map[string]any)
		subsets["subset:"+g["destination_service"].(string)+"|"+g["route"].(string)+"|"+g["primary_subset"].(string)] += g["requests"].(float64)
	}
	timeline := map[string][2]float64{} // requests, sum of the four outcomes and the rest
	for _, m := range want["timeline"].([]any) {
		m := m.(map[string]any)
		k := "subset:" + m["destination_service"].(string) + "|" + m["route"].(string) + "|" + m["primary_subset"].(string)
		x := timeline[k]
		x[0] += m["requests"].(float64)
		x[1] += m["routed"].(float64) + m["fallback_success"].(float64) + m["fallback_failed"].(float64) + m["no_fallback_uh"].(float64)
		timeline[k] = x
	}
	require.Len(t, subsets, 2, "v2 and v3 (sample2)")
	for k, n := range subsets {
		require.Equal(t, num(n), found.Figures[k], "requests of %q", k)
	}

	require.Len(t, found.Charts, len(subsets), "one chart per primary subset")
	for _, c := range found.Charts {
		require.True(t, c.UPlot, "chart %q drawn by uPlot", c.Figure)
		require.Positive(t, c.Canvases, "chart %q has a canvas", c.Figure)
		require.Equal(t, 6, c.Legend, "chart %q: time, requests and the four outcomes (no 503 NC in the seed)", c.Figure)
		require.Equal(t, num(timeline[c.Figure][0]), c.Requests, "requests plotted in %q", c.Figure)
		require.Equal(t, num(timeline[c.Figure][0]), c.Outcomes, "every request plotted once by outcome in %q", c.Figure)
	}
	require.Equal(t, len(want["health"].(map[string]any)), found.HealthRows)
	require.Positive(t, found.HealthSegments)
}

func describe(o *runtime.RemoteObject) string {
	if o == nil {
		return ""
	}
	return o.Description
}
