package replay

import (
	"io"
	"strings"
	"time"
)

// maxWorst is how many of the worst minutes the markdown and HTML reports list.
const maxWorst = 10

// WriteMarkdown writes the headline, the per-service tables, the worst minutes and the first
// violations as GitHub-flavoured markdown, for pasting into an incident ticket.
func (r *Report) WriteMarkdown(w io.Writer) error {
	p := &printer{w: w}
	p.f("## fallbackwatch replay\n\n")
	p.f("| | |\n|---|---|\n")
	p.f("| input lines | %d in %d file(s) |\n", r.Lines.Total, len(r.Files))
	p.f("| records | %d |\n", r.Lines.Records)
	p.f("| rejected | %d%s |\n", r.Lines.Rejected, mdCounts(r.RejectedReasons))
	p.f("| skipped (not access-log records) | %d%s |\n", r.Lines.Skipped, mdCounts(r.SkippedReasons))
	if r.First != nil {
		p.f("| log time | %s to %s (%s) |\n", r.First.Format(time.RFC3339), r.Last.Format(time.RFC3339), r.Last.Sub(*r.First).Round(time.Second))
	}
	p.f("| routing checks | %s |\n", r.checksSummary())
	for _, n := range r.Notes {
		p.f("\n> **Note:** %s\n", md(n))
	}
	for _, v := range r.Services() {
		p.f("\n### %s\n\n%d requests, %d failed fallbacks (%s); finally served by: %s\n",
			md(v.Service), v.Requests, v.FailedFallbacks, pct(v.FailedFallbacks, v.Requests), md(shares(v.ServedBy, v.Requests)))
		for _, rv := range v.Routes {
			p.f("\nRoute %s\n\n", md(routeName(rv.Route)))
			p.f("| primary subset | requests | share | fell back | failed fallback | first fallback | first failed | served by |\n|---|--:|--:|--:|--:|---|---|---|\n")
			for _, s := range rv.Subsets {
				p.f("| %s | %d | %s | %s | %s | %s | %s | %s |\n", md(orNone(s.Subset)), s.Requests, pct(s.Requests, rv.Requests),
					pct(s.FellBack, s.Requests), pct(s.Failed, s.Requests), clockOr(s.FirstFallback), clockOr(s.FirstFailed),
					md(shares(s.ServedBy, s.Requests)))
			}
		}
	}
	if worst := r.WorstMinutes(maxWorst); len(worst) > 0 {
		p.f("\n### Worst minutes\n\n| %s (UTC) | service | route | primary subset | requests | served as routed | fell back and served | fallback failed | no fallback, 503 UH |\n|---|---|---|---|--:|--:|--:|--:|--:|\n",
			bucketName(r.BucketSeconds))
		for _, m := range worst {
			p.f("| %s | %s | %s | %s | %d | %d | %d | %d | %d |\n", m.Minute.Format("2006-01-02 15:04"), md(m.DestinationService),
				md(routeName(m.Route)), md(orNone(m.PrimarySubset)), m.Requests, m.Routed, m.FallbackSuccess, m.FallbackFailed, m.NoFallbackUH)
		}
	}
	if r.ViolationsTotal > 0 {
		p.f("\n### Violations: %d\n\n| where | rule | message |\n|---|---|---|\n", r.ViolationsTotal)
		for i, v := range r.Violations {
			if i == maxListed {
				p.f("\n… %d more (see --format json)\n", r.ViolationsTotal-maxListed)
				break
			}
			p.f("| %s:%d | %s | %s |\n", md(v.File), v.Line, md(v.Rule), md(v.Message))
		}
	}
	return p.err
}

// clockOr shows a bucket's start in UTC, or "–" for none.
func clockOr(t *time.Time) string {
	if t == nil {
		return "–"
	}
	return t.UTC().Format("2006-01-02 15:04")
}

// bucketName names the timeline's bucket: "minute", or its width when buckets were widened.
func bucketName(seconds int64) string {
	if seconds <= 60 {
		return "minute"
	}
	return "bucket of " + (time.Duration(seconds) * time.Second).String()
}

func mdCounts(m map[string]int64) string {
	if len(m) == 0 {
		return ""
	}
	return ": " + md(counts(m))
}

// mdEscaper backslash-escapes markdown's punctuation and writes HTML's specials as entities, so
// that a piece of input can neither break a table nor inject markup into a ticket.
var mdEscaper = strings.NewReplacer(
	`\`, `\\`, "`", "\\`", "*", `\*`, "_", `\_`, "[", `\[`, "]", `\]`, "|", `\|`, "#", `\#`,
	"<", "&lt;", ">", "&gt;", "&", "&amp;", "~", `\~`, "!", `\!`,
)

// md shows a piece of input (show caps and quotes it) as escaped markdown text.
func md(s string) string { return mdEscaper.Replace(show(s)) }
