// Package alerts generates the Prometheus rules that watch fallback routing: recording rules for
// the request, fallback, failure and served-load rates of every subset, and alerts for sustained
// fallback, failed fallback, unprotected outages, fallback targets under capacity pressure,
// failovers a target could not absorb (N-1), decisions that contradict the routing configuration
// and the health of the fallbackwatch pipeline itself (collectors absent or down, rejected lines,
// Kafka lag, label overflow, failed configuration reloads).
//
// The input is a topology.Topology from package topology (the configured fallback edges and
// optional capacities, which alertgen builds from the routing configuration); with
// an empty topology the rules are generic and valid for every service. Output is a RuleFile that
// marshals deterministically as a plain Prometheus rule file (what `promtool check rules` reads)
// or as a prometheus-operator PrometheusRule, and TestFile builds the `promtool test rules` file
// that proves each alert fires on the source document's failure scenarios and stays silent on
// healthy and on low traffic, and that each alert fires just above its threshold and not just
// below it. What the tests expect is judged from each alert's threshold and `for`, never from how
// the input series were built.
//
// Every query aggregates with `sum by (...)` over the labels that matter, so the rules stay
// correct when several collectors each export a part of the traffic; only the collector-down and
// reload alerts look at single targets (`up`, each collector's own reload). The package owns
// neither the metric names (docs/metrics.md) nor the dashboards (package dashboards).
package alerts

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// DefaultRunbookURL is where the runbook with one section per alert lives.
const DefaultRunbookURL = "https://github.com/fallbackwatch/fallbackwatch/blob/main/monitoring/runbook.md"

// Windows are the rate windows of the recording rules.
type Windows struct {
	Short model.Duration // current behaviour; every alert looks at it
	Long  model.Duration // confirms that a condition is sustained
	// Baseline is how far back "normal" lies: a fallback target's load is compared with its
	// long-window load Baseline ago, and a failover's load with the peak over the last Baseline.
	Baseline model.Duration
}

// For holds how long each alert's condition must hold before it fires.
type For struct {
	SustainedWarning  model.Duration
	SustainedCritical model.Duration
	Failed            model.Duration
	Unprotected       model.Duration
	Capacity          model.Duration // over capacity and load well above normal
	Failover          model.Duration // N-1
	Inconsistent      model.Duration
	Pipeline          model.Duration // collector absent or down, rejected lines, label overflow, failed reload
	KafkaLag          model.Duration
}

// Thresholds are the alert thresholds. Ratios are fractions (0.05 = 5%).
type Thresholds struct {
	SustainedWarning  float64 // share of a primary subset's requests that fell back
	SustainedCritical float64
	Failed            float64 // share of a primary subset's requests whose fallback failed
	Unprotected       float64 // share of a route's requests to a subset that got 503 UH with no fallback tried
	Capacity          float64 // served load / capacity
	RelativeLoad      float64 // served load / normal load, for targets without capacity
	Failover          float64 // load after a failover / capacity (N-1)
	FailoverPeak      float64 // load after a failover / peak served over Baseline, without capacity
	Inconsistent      float64 // share of checked records that contradict the configuration
	Rejected          float64 // share of read lines that were rejected
	KafkaLag          float64 // messages; lag must exceed this and grow
	// MinRPS is the minimum-traffic guard: below this many requests (or lines) per second in the
	// short window, ratios are not judged.
	MinRPS float64
}

// Severities are the values of the severity label.
type Severities struct {
	Page    string // someone must act now
	Warning string // act within working hours
	Info    string // worth knowing, not worth waking anyone
}

// Options tunes generation. Start from DefaultOptions; zero values are filled from it by
// WithDefaults.
type Options struct {
	Windows    Windows
	For        For
	Thresholds Thresholds
	Severities Severities
	// Selector is a PromQL label matcher set such as `{namespace="mesh"}` added to every selector.
	// Labels it matches with = are kept by every aggregation, so the rules of several meshes in one
	// Prometheus do not collide.
	Selector string
	// RunbookURL is the base of every runbook_url annotation; "#<alertname in lower case>" is
	// appended.
	RunbookURL string
	// Name is the PrometheusRule's metadata.name and the prefix of the rule group names.
	Name string
}

// DefaultOptions returns the defaults: the one place they are defined.
func DefaultOptions() Options {
	m := func(d time.Duration) model.Duration { return model.Duration(d) }
	return Options{
		Windows: Windows{Short: m(5 * time.Minute), Long: m(time.Hour), Baseline: m(24 * time.Hour)},
		For: For{
			SustainedWarning:  m(15 * time.Minute),
			SustainedCritical: m(5 * time.Minute),
			Failed:            m(time.Minute),
			Unprotected:       m(2 * time.Minute),
			Capacity:          m(5 * time.Minute),
			Failover:          m(15 * time.Minute),
			Inconsistent:      m(15 * time.Minute),
			Pipeline:          m(5 * time.Minute),
			KafkaLag:          m(15 * time.Minute),
		},
		Thresholds: Thresholds{
			SustainedWarning:  0.05,
			SustainedCritical: 0.5,
			Failed:            0.01,
			Unprotected:       0.5,
			Capacity:          0.8,
			RelativeLoad:      1.5,
			Failover:          1,
			FailoverPeak:      3,
			Inconsistent:      0.01,
			Rejected:          0.05,
			KafkaLag:          1000,
			MinRPS:            0.1,
		},
		Severities: Severities{Page: "critical", Warning: "warning", Info: "info"},
		RunbookURL: DefaultRunbookURL,
		Name:       "fallbackwatch",
	}
}

// WithDefaults returns o with every zero field taken from DefaultOptions.
func (o Options) WithDefaults() Options {
	d := DefaultOptions()
	dur := func(v *model.Duration, def model.Duration) {
		if *v == 0 {
			*v = def
		}
	}
	num := func(v *float64, def float64) {
		if *v == 0 {
			*v = def
		}
	}
	str := func(v *string, def string) {
		if *v == "" {
			*v = def
		}
	}
	dur(&o.Windows.Short, d.Windows.Short)
	dur(&o.Windows.Long, d.Windows.Long)
	dur(&o.Windows.Baseline, d.Windows.Baseline)
	dur(&o.For.SustainedWarning, d.For.SustainedWarning)
	dur(&o.For.SustainedCritical, d.For.SustainedCritical)
	dur(&o.For.Failed, d.For.Failed)
	dur(&o.For.Unprotected, d.For.Unprotected)
	dur(&o.For.Capacity, d.For.Capacity)
	dur(&o.For.Failover, d.For.Failover)
	dur(&o.For.Inconsistent, d.For.Inconsistent)
	dur(&o.For.Pipeline, d.For.Pipeline)
	dur(&o.For.KafkaLag, d.For.KafkaLag)
	num(&o.Thresholds.SustainedWarning, d.Thresholds.SustainedWarning)
	num(&o.Thresholds.SustainedCritical, d.Thresholds.SustainedCritical)
	num(&o.Thresholds.Failed, d.Thresholds.Failed)
	num(&o.Thresholds.Unprotected, d.Thresholds.Unprotected)
	num(&o.Thresholds.Capacity, d.Thresholds.Capacity)
	num(&o.Thresholds.RelativeLoad, d.Thresholds.RelativeLoad)
	num(&o.Thresholds.Failover, d.Thresholds.Failover)
	num(&o.Thresholds.FailoverPeak, d.Thresholds.FailoverPeak)
	num(&o.Thresholds.Inconsistent, d.Thresholds.Inconsistent)
	num(&o.Thresholds.Rejected, d.Thresholds.Rejected)
	num(&o.Thresholds.KafkaLag, d.Thresholds.KafkaLag)
	num(&o.Thresholds.MinRPS, d.Thresholds.MinRPS)
	str(&o.Severities.Page, d.Severities.Page)
	str(&o.Severities.Warning, d.Severities.Warning)
	str(&o.Severities.Info, d.Severities.Info)
	str(&o.RunbookURL, d.RunbookURL)
	str(&o.Name, d.Name)
	return o
}

// Validate reports every problem with o, each naming the option.
func (o Options) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	w := o.Windows
	if w.Short < model.Duration(time.Second) {
		bad("window.short %s: must be at least 1s", w.Short)
	}
	if w.Long <= w.Short {
		bad("window.long %s: must be longer than window.short %s", w.Long, w.Short)
	}
	if w.Baseline < 2*w.Short+o.For.Capacity {
		bad("window.baseline %s: must be at least 2 × window.short + for.capacity (%s), so the normal level predates the load being judged",
			w.Baseline, 2*w.Short+o.For.Capacity)
	}
	if w.Long <= o.For.Pipeline+w.Short {
		bad("window.long %s: must be longer than for.pipeline + window.short (%s), or a collector that stopped is forgotten before the alert fires",
			w.Long, o.For.Pipeline+w.Short)
	}
	for name, d := range map[string]model.Duration{
		"for.sustained-warning": o.For.SustainedWarning, "for.sustained-critical": o.For.SustainedCritical,
		"for.failed": o.For.Failed, "for.unprotected": o.For.Unprotected, "for.capacity": o.For.Capacity,
		"for.failover": o.For.Failover, "for.inconsistent": o.For.Inconsistent, "for.pipeline": o.For.Pipeline,
		"for.kafka-lag": o.For.KafkaLag,
	} {
		if d < 0 {
			bad("%s %s: must not be negative", name, d)
		}
	}
	t := o.Thresholds
	for _, r := range []struct {
		name  string
		v     float64
		ratio bool
	}{
		{"threshold.sustained-warning", t.SustainedWarning, true}, {"threshold.sustained-critical", t.SustainedCritical, true},
		{"threshold.failed", t.Failed, true}, {"threshold.unprotected", t.Unprotected, true},
		{"threshold.capacity", t.Capacity, false}, {"threshold.relative-load", t.RelativeLoad, false},
		{"threshold.failover", t.Failover, false}, {"threshold.failover-peak", t.FailoverPeak, false},
		{"threshold.inconsistent", t.Inconsistent, true}, {"threshold.rejected", t.Rejected, true},
		{"threshold.kafka-lag", t.KafkaLag, false}, {"min-rps", t.MinRPS, false},
	} {
		switch {
		case !(r.v > 0):
			bad("%s %v: must be a positive number", r.name, r.v)
		case r.ratio && r.v >= 1:
			bad("%s %v: is a share and must be below 1", r.name, r.v)
		}
	}
	if t.SustainedCritical < t.SustainedWarning {
		bad("threshold.sustained-critical %v: must not be below threshold.sustained-warning %v", t.SustainedCritical, t.SustainedWarning)
	}
	if t.RelativeLoad <= 1 {
		bad("threshold.relative-load %v: must be above 1 (a multiple of the normal load)", t.RelativeLoad)
	}
	for name, s := range map[string]string{"severity.page": o.Severities.Page, "severity.warning": o.Severities.Warning, "severity.info": o.Severities.Info} {
		if !model.LabelValue(s).IsValid() || s == "" {
			bad("%s %q: must be a non-empty label value", name, s)
		}
	}
	if _, err := parseSelector(o.Selector); err != nil {
		errs = append(errs, err)
	}
	if u, err := url.Parse(o.RunbookURL); err != nil || u.Scheme == "" || u.Host == "" {
		bad("runbook-url %q: must be an absolute URL", o.RunbookURL)
	}
	if !validName(o.Name) {
		bad("name %q: must be a lower-case DNS label (a-z, 0-9, -)", o.Name)
	}
	return errors.Join(errs...)
}

func validName(s string) bool {
	if s == "" || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// parseSelector parses a label matcher set with the PromQL parser. Braces are optional. Matchers on
// __name__ are refused: the selector narrows every metric, it does not name one.
func parseSelector(s string) ([]*labels.Matcher, error) {
	in := strings.TrimSpace(s)
	if in == "" || in == "{}" {
		return nil, nil
	}
	if in[0] != '{' {
		in = "{" + in + "}"
	}
	ms, err := newParser().ParseMetricSelector(in)
	if err != nil {
		return nil, fmt.Errorf("selector %q: %w", s, err)
	}
	for _, m := range ms {
		if m.Name == model.MetricNameLabel {
			return nil, fmt.Errorf("selector %q: must not match %s; it narrows every metric", s, model.MetricNameLabel)
		}
	}
	return ms, nil
}

// newParser returns the PromQL parser with Prometheus' default options.
func newParser() parser.Parser { return parser.NewParser(parser.Options{}) }
