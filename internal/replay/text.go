package replay

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"
)

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// maxListed is how many located lines the text report shows of each kind.
const maxListed = 20

// WriteText writes the report a person reads after an incident: per service and route the subset
// split, fallback rates and failed fallbacks, the worst minute, the health each cluster showed,
// the violations and the rejected lines.
func (r *Report) WriteText(w io.Writer) error {
	p := &printer{w: w}
	p.f("fallbackwatch replay: %d lines in %d file(s): %d records, %d rejected, %d skipped (not access-log records)",
		r.Lines.Total, len(r.Files), r.Lines.Records, r.Lines.Rejected, r.Lines.Skipped)
	if r.Lines.Fragments > 0 {
		p.f(", %d fragments of split records", r.Lines.Fragments)
	}
	p.f("\n")
	if len(r.RecordsByDirection) > 0 {
		p.f("records by direction: %s (outbound and none are routing decisions, judged below; inbound, gateway and unknown are only counted)\n",
			counts(r.RecordsByDirection))
	}
	if r.RecordsInvalidUTF8Ignored > 0 {
		p.f("%d records held invalid UTF-8 in fields fallbackwatch does not read (user_agent, upstream_host, unknown keys): kept\n", r.RecordsInvalidUTF8Ignored)
	}
	for _, n := range r.Notes {
		p.f("NOTE: %s\n", n)
	}
	if r.First != nil {
		p.f("log time %s to %s (%s)\n", r.First.Format(time.RFC3339), r.Last.Format(time.RFC3339), r.Last.Sub(*r.First).Round(time.Second))
	}
	p.f("routing checks: %s\n", r.checksSummary())
	svcs := r.Services()
	for i := range svcs {
		r.writeService(p, &svcs[i])
	}
	r.writeHealth(p)
	r.writeLocated(p, "Violations (records that contradict the routing configuration)", r.ViolationsTotal, r.Violations)
	r.writeLocated(p, "Warnings (decisions close to a health change, C6)", r.Verdicts["warning"], r.Warnings)
	if r.Lines.Rejected > 0 {
		p.f("\nRejected lines: %s\n", counts(r.RejectedReasons))
		r.writeLocated(p, "", r.Lines.Rejected, r.Rejects)
	}
	if r.Lines.Skipped > 0 {
		p.f("\nSkipped lines (not access-log records): %s\n", counts(r.SkippedReasons))
	}
	return p.err
}

type printer struct {
	w   io.Writer
	err error
}

func (p *printer) f(format string, args ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, format, args...)
	}
}

func (r *Report) writeService(p *printer, v *ServiceView) {
	p.f("\n%s: %d requests, %d failed fallbacks (%s)\n", show(v.Service), v.Requests, v.FailedFallbacks, pct(v.FailedFallbacks, v.Requests))
	p.f("  finally served by: %s\n", shares(v.ServedBy, v.Requests))
	for _, rv := range v.Routes {
		p.f("  route %s\n", show(routeName(rv.Route)))
		tw := tabwriter.NewWriter(p.w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(tw, "    primary subset\trequests\tshare\tfell back\tfailed fallback\tserved by\t\n")
		for _, s := range rv.Subsets {
			fmt.Fprintf(tw, "    %s\t%d\t%s\t%s\t%s\t%s\t\n", show(orNone(s.Subset)), s.Requests, pct(s.Requests, rv.Requests),
				pct(s.FellBack, s.Requests), pct(s.Failed, s.Requests), shares(s.ServedBy, s.Requests))
		}
		if err := tw.Flush(); err != nil && p.err == nil {
			p.err = err
		}
	}
	if m := v.Worst; m != nil {
		p.f("  worst minute: %s, subset %s: %d requests, %d fell back, %d failed fallbacks\n",
			m.Minute.Format("2006-01-02 15:04 UTC"), show(orNone(m.PrimarySubset)), m.Requests, m.FallbackSuccess+m.FallbackFailed, m.FallbackFailed)
	}
}

// routeName names a route for people: "(no route name)" when the records named none.
func routeName(s string) string {
	if s == "" {
		return "(no route name)"
	}
	return s
}

// finalName shortens a served-by cluster to its subset when it belongs to svc.
func finalName(g Group, svc string) string {
	fs, sub := serviceSubset([]byte(g.FinalCluster))
	if fs == svc {
		if sub == "" {
			return "(no subset)"
		}
		return sub
	}
	if sub == "" {
		return fs
	}
	return fs + "/" + sub
}

// worstMinutes returns by service the minute with the most failed fallbacks, then the most
// fallbacks.
func (r *Report) worstMinutes() map[string]*Minute {
	out := map[string]*Minute{}
	for i := range r.Timeline {
		m := &r.Timeline[i]
		if m.FallbackSuccess+m.FallbackFailed == 0 {
			continue
		}
		worst := out[m.DestinationService]
		if worst == nil || m.FallbackFailed > worst.FallbackFailed ||
			(m.FallbackFailed == worst.FallbackFailed && m.FallbackSuccess > worst.FallbackSuccess) {
			out[m.DestinationService] = m
		}
	}
	return out
}

func (r *Report) writeHealth(p *printer) {
	if len(r.Health) == 0 {
		return
	}
	p.f("\nHealth as the records show it:\n")
	for _, c := range slices.Sorted(maps.Keys(r.Health)) {
		var parts []string
		for _, iv := range r.Health[c] {
			state := iv.State
			if state == StateUnhealthy {
				state = "UNHEALTHY"
			}
			parts = append(parts, fmt.Sprintf("%s %s–%s", state, iv.Start.Format("15:04:05"), iv.End.Format("15:04:05")))
		}
		if len(parts) > 6 {
			parts = append(parts[:6], fmt.Sprintf("… %d more", len(r.Health[c])-6))
		}
		p.f("  %s: %s\n", show(c), strings.Join(parts, ", "))
	}
	if r.HealthDropped > 0 {
		p.f("  (health evidence about %d more clusters not shown)\n", r.HealthDropped)
	}
}

func (r *Report) writeLocated(p *printer, title string, total int64, l []Located) {
	if total == 0 {
		return
	}
	if title != "" {
		p.f("\n%s: %d\n", title, total)
	}
	for i, v := range l {
		if i == maxListed {
			p.f("  … %d more (see --format json)\n", total-maxListed)
			break
		}
		tag := v.Rule
		if tag == "" {
			tag = v.Reason
		}
		p.f("  %s:%d: %s: %s\n", show(v.File), v.Line, show(tag), show(v.Message))
	}
}

func pct(n, of int64) string {
	if of == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(n)/float64(of))
}

func shares(l []Share, total int64) string {
	if len(l) == 0 {
		return Nobody
	}
	parts := make([]string, len(l))
	for i, sh := range l {
		parts[i] = show(sh.Name) + " " + pct(sh.Requests, total)
	}
	return strings.Join(parts, ", ")
}

func counts(m map[string]int64) string {
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", show(k), m[k])
	}
	return strings.Join(parts, ", ")
}

// maxShown caps a piece of input in the text report.
const maxShown = 200

// show returns a piece of input (a path, service, route, message) as the text report prints
// it: cut to maxShown bytes, and quoted with Go escapes when it holds anything but printable
// characters, so that control sequences in logs (ESC [31m, OSC titles) never reach a terminal.
func show(s string) string {
	cut := s
	if len(cut) > maxShown {
		cut = cut[:maxShown]
		for len(cut) > 0 && !utf8.RuneStart(s[len(cut)]) {
			cut = cut[:len(cut)-1]
		}
	}
	printable := utf8.ValidString(cut)
	for _, r := range cut {
		if !printable || !unicode.IsPrint(r) {
			printable = false
			break
		}
	}
	if !printable {
		cut = strconv.Quote(cut)
	}
	if len(cut) < len(s) && len(s) > maxShown {
		cut += "…"
	}
	return cut
}

// checksSummary is the routing checks' line of the text and markdown headlines.
func (r *Report) checksSummary() string {
	if !r.Checked {
		return "off (no --routing given)"
	}
	return fmt.Sprintf("%d consistent, %d inconsistent, %d warnings, %d unknown",
		r.Verdicts["consistent"], r.Verdicts["inconsistent"], r.Verdicts["warning"], r.Verdicts["unknown"])
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// Formats are the report formats Write knows.
var Formats = []string{"text", "json", "html", "markdown"}

// Write writes the report in one of Formats.
func (r *Report) Write(w io.Writer, format string) error {
	switch format {
	case "json":
		return r.WriteJSON(w)
	case "html":
		return r.WriteHTML(w)
	case "markdown":
		return r.WriteMarkdown(w)
	case "text":
		return r.WriteText(w)
	}
	return fmt.Errorf("unknown report format %q (want one of %s)", format, strings.Join(Formats, ", "))
}

// WriteFile writes the report in one of Formats to the file named path, or to stdout when path
// is "".
func (r *Report) WriteFile(path string, stdout io.Writer, format string) error {
	if path == "" {
		return r.Write(stdout, format)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := r.Write(f, format); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return f.Close()
}
