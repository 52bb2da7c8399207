// Command alertgen writes the Prometheus rules, their promtool unit tests and the Grafana
// dashboards that watch fallback routing, from the same VirtualServices and DestinationRules the
// collector reads. Without --routing it writes generic rules and dashboards valid for every
// service.
//
//	alertgen --routing PATH... [--capacity FILE] [--out DIR] [--format rules,prometheusrule]
//	         [--selector '{...}'] [--runbook-url BASE] [--window.short 5m] [--for.failed 1m] ...
//
// Exit codes: 0 written, 1 the input or options are wrong (nothing is written), 2 bad usage.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/model"

	"github.com/fallbackwatch/fallbackwatch/alerts"
	"github.com/fallbackwatch/fallbackwatch/dashboards"
	"github.com/fallbackwatch/fallbackwatch/internal/cli"
	"github.com/fallbackwatch/fallbackwatch/routing"
	"github.com/fallbackwatch/fallbackwatch/topology"
)

// Output file names inside --out.
const (
	RulesFile          = "rules.yaml"
	RulesTestFile      = "rules.test.yaml"
	PrometheusRuleFile = "prometheusrule.yaml"
	DashboardsDir      = "dashboards"
)

func main() {
	os.Exit(Main(cli.Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}, os.Args[1:]))
}

// durationFlag is a model.Duration flag (5m, 1h, 1d, 10s).
type durationFlag struct{ d *model.Duration }

func (f durationFlag) String() string {
	if f.d == nil {
		return ""
	}
	return f.d.String()
}

func (f durationFlag) Set(s string) error {
	d, err := model.ParseDuration(s)
	if err != nil {
		return err
	}
	*f.d = d
	return nil
}

type config struct {
	routing    cli.Strings
	capacity   string
	out        string
	formats    string
	load       *cli.Routing
	dashboards bool
	dashNS     string
	opts       alerts.Options
}

func flags(env cli.Env) (*kingpin.Application, *config) {
	c := &config{opts: alerts.DefaultOptions()}
	app := cli.NewApp("alertgen", "Writes the Prometheus rules, their promtool tests and the Grafana dashboards that watch fallback routing.", env)
	app.Flag("routing", "VirtualService/DestinationRule YAML file or directory (repeatable); none: generic rules.").PlaceHolder("PATH").SetValue(&c.routing)
	app.Flag("capacity", "Capacity file: requests per second per host/subset (needs --routing).").PlaceHolder("FILE").StringVar(&c.capacity)
	app.Flag("out", "Directory to write into.").Default(".").StringVar(&c.out)
	app.Flag("format", "Comma-separated: rules (rules.yaml and its promtool test rules.test.yaml), prometheusrule (prometheusrule.yaml).").Default("rules").StringVar(&c.formats)
	c.load = cli.RoutingFlags(app)
	app.Flag("dashboards", "Also write the Grafana dashboards and their ConfigMap under <out>/dashboards.").Default("true").BoolVar(&c.dashboards)
	app.Flag("dashboards.namespace", "Namespace of the dashboards ConfigMap (default monitoring).").StringVar(&c.dashNS)
	o := &c.opts
	app.Flag("selector", `PromQL label matchers added to every selector, e.g. '{namespace="mesh"}'.`).StringVar(&o.Selector)
	app.Flag("runbook-url", "Base of every runbook_url annotation; #<alert name in lower case> is appended.").Default(o.RunbookURL).StringVar(&o.RunbookURL)
	app.Flag("name", "PrometheusRule name and rule group name prefix.").Default(o.Name).StringVar(&o.Name)
	for _, d := range []struct {
		name string
		v    *model.Duration
		help string
	}{
		{"window.short", &o.Windows.Short, "Short rate window: current behaviour."},
		{"window.long", &o.Windows.Long, "Long rate window: confirms a condition is sustained."},
		{"window.baseline", &o.Windows.Baseline, "How far back a fallback target's normal load lies (without capacity)."},
		{"for.sustained-warning", &o.For.SustainedWarning, "for of FallbackSustained at the warning threshold."},
		{"for.sustained-critical", &o.For.SustainedCritical, "for of FallbackSustained at the critical threshold."},
		{"for.failed", &o.For.Failed, "for of FallbackFailed."},
		{"for.unprotected", &o.For.Unprotected, "for of UnprotectedOutage."},
		{"for.capacity", &o.For.Capacity, "for of FallbackTargetOverCapacity and FallbackTargetLoadHigh."},
		{"for.failover", &o.For.Failover, "for of FailoverExceedsCapacity and FailoverExceedsObservedPeak."},
		{"for.inconsistent", &o.For.Inconsistent, "for of FallbackDecisionsInconsistent."},
		{"for.pipeline", &o.For.Pipeline, "for of the collector absent/down, rejected lines and label overflow alerts."},
		{"for.kafka-lag", &o.For.KafkaLag, "for of FallbackwatchKafkaLagGrowing."},
	} {
		fl := app.Flag(d.name, d.help).PlaceHolder("DURATION")
		if *d.v != 0 {
			fl = fl.Default(d.v.String())
		}
		fl.SetValue(durationFlag{d.v})
	}
	t := &o.Thresholds
	for _, f := range []struct {
		name string
		v    *float64
		help string
	}{
		{"threshold.sustained-warning", &t.SustainedWarning, "Share of a subset's requests falling back: warning."},
		{"threshold.sustained-critical", &t.SustainedCritical, "Share of a subset's requests falling back: critical."},
		{"threshold.failed", &t.Failed, "Share of a subset's requests whose fallback failed."},
		{"threshold.unprotected", &t.Unprotected, "Share of a route's requests answered 503 UH (no healthy upstream) with no fallback tried: an outage no fallback covered."},
		{"threshold.capacity", &t.Capacity, "Served load / capacity."},
		{"threshold.relative-load", &t.RelativeLoad, "Served load / normal load, without capacity."},
		{"threshold.failover", &t.Failover, "Load after a failover / capacity (N-1)."},
		{"threshold.failover-peak", &t.FailoverPeak, "Load after a failover / recent peak, without capacity."},
		{"threshold.inconsistent", &t.Inconsistent, "Share of checked records contradicting the configuration."},
		{"threshold.rejected", &t.Rejected, "Share of read lines rejected."},
		{"threshold.kafka-lag", &t.KafkaLag, "Kafka lag in messages above which growth alerts."},
		{"min-rps", &t.MinRPS, "Minimum requests (or lines) per second before ratios are judged."},
	} {
		app.Flag(f.name, f.help).Default(strconv.FormatFloat(*f.v, 'g', -1, 64)).Float64Var(f.v)
	}
	app.Flag("severity.page", "Severity label of alerts that page.").Default(o.Severities.Page).StringVar(&o.Severities.Page)
	app.Flag("severity.warning", "Severity label of warnings.").Default(o.Severities.Warning).StringVar(&o.Severities.Warning)
	app.Flag("severity.info", "Severity label of informational alerts.").Default(o.Severities.Info).StringVar(&o.Severities.Info)
	return app, c
}

// Main runs alertgen with the given arguments and returns its exit code. Flags may stand in any
// order; alertgen takes no positional argument.
func Main(env cli.Env, args []string) int {
	app, c := flags(env)
	if _, code, ok := cli.Parse(app, args); !ok {
		return code
	}
	formats := map[string]bool{}
	for _, f := range strings.Split(c.formats, ",") {
		switch f = strings.TrimSpace(f); f {
		case "rules", "prometheusrule":
			formats[f] = true
		default:
			return cli.Usagef(app, "--format %q: want rules, prometheusrule or both, comma-separated", f)
		}
	}
	if err := c.load.Validate(c.routing); err != nil {
		return cli.Usagef(app, "%v", err)
	}
	if c.capacity != "" && len(c.routing) == 0 && !c.load.Kube() {
		return cli.Usagef(app, "--capacity needs --routing: capacities are checked against the subsets the configuration defines")
	}
	files, err := generate(c, formats)
	if err != nil {
		fmt.Fprintf(env.Stderr, "alertgen: %v\nnothing written\n", err)
		return cli.ExitError
	}
	if err := write(c.out, files); err != nil {
		fmt.Fprintf(env.Stderr, "alertgen: %v\n", err)
		return cli.ExitError
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintln(env.Stdout, filepath.Join(c.out, n))
	}
	return cli.ExitOK
}

// loadTopology reads the routing configuration and the capacity file.
func loadTopology(c *config) (*topology.Topology, error) {
	if len(c.routing) == 0 && !c.load.Kube() {
		return nil, nil
	}
	cfg, err := c.load.Load(context.Background(), c.routing)
	if err != nil {
		return nil, fmt.Errorf("routing configuration: %w", err)
	}
	t := fromRouting(cfg)
	if c.capacity != "" {
		capa, err := topology.LoadCapacity(c.capacity, t, c.load.Namespace, c.load.Domain)
		if err != nil {
			return nil, err
		}
		t.Capacity = capa
	}
	return t, nil
}

// fromRouting is the view of a routing configuration that monitoring needs: every subset a
// DestinationRule defines or a fallback edge names, and every configured fallback edge.
func fromRouting(cfg *routing.Config) *topology.Topology {
	t := &topology.Topology{}
	seen := map[topology.Subset]bool{}
	addSubset := func(s topology.Subset) {
		if !seen[s] && s.Subset != "" {
			seen[s] = true
			t.Subsets = append(t.Subsets, s)
		}
	}
	for _, svc := range cfg.Services() {
		for _, s := range cfg.Subsets(svc) {
			addSubset(topology.Subset{Service: svc, Subset: s})
		}
	}
	edges := map[topology.Edge]bool{}
	for _, e := range cfg.Edges() {
		te := topology.Edge{Route: e.Route,
			From: topology.Subset{Service: e.From.Service, Subset: e.From.Subset},
			To:   topology.Subset{Service: e.To.Service, Subset: e.To.Subset}}
		addSubset(te.From)
		addSubset(te.To)
		if !edges[te] {
			edges[te] = true
			t.Edges = append(t.Edges, te)
		}
	}
	t.Sort()
	return t
}

// generate builds every output file in memory, so an error leaves nothing written.
func generate(c *config, formats map[string]bool) (map[string][]byte, error) {
	t, err := loadTopology(c)
	if err != nil {
		return nil, err
	}
	rf, err := alerts.Generate(t, c.opts)
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{}
	if formats["rules"] {
		if files[RulesFile], err = rf.Marshal(); err != nil {
			return nil, err
		}
		tf, err := alerts.GenerateTests(t, c.opts, RulesFile)
		if err != nil {
			return nil, err
		}
		if files[RulesTestFile], err = tf.Marshal(); err != nil {
			return nil, err
		}
	}
	if formats["prometheusrule"] {
		if files[PrometheusRuleFile], err = rf.MarshalPrometheusRule(c.opts.WithDefaults().Name); err != nil {
			return nil, err
		}
	}
	if c.dashboards {
		o := c.opts.WithDefaults()
		ds, err := dashboards.Generate(t, dashboards.Options{
			Selector:        o.Selector,
			Namespace:       c.dashNS,
			FallbackShare:   o.Thresholds.SustainedWarning,
			CapacityWarning: o.Thresholds.Capacity,
			Baseline:        o.Windows.Baseline.String(),
		})
		if err != nil {
			return nil, err
		}
		for name, b := range ds {
			files[filepath.Join(DashboardsDir, name)] = b
		}
	}
	return files, nil
}

// write puts every file under dir, each through a temporary file renamed into place, so a reader
// never sees a half-written file.
func write(dir string, files map[string][]byte) error {
	var errs []error
	for name, b := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return fmt.Errorf("creating %s: %w", filepath.Dir(path), err)
		}
		tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(name)+".tmp*")
		if err != nil {
			errs = append(errs, fmt.Errorf("writing %s: %w", path, err))
			continue
		}
		_, werr := tmp.Write(b)
		cerr := tmp.Close()
		if err := errors.Join(werr, cerr); err != nil {
			os.Remove(tmp.Name())
			errs = append(errs, fmt.Errorf("writing %s: %w", path, err))
			continue
		}
		if err := os.Chmod(tmp.Name(), 0o644); err != nil {
			os.Remove(tmp.Name())
			errs = append(errs, fmt.Errorf("writing %s: %w", path, err))
			continue
		}
		if err := os.Rename(tmp.Name(), path); err != nil {
			os.Remove(tmp.Name())
			errs = append(errs, fmt.Errorf("writing %s: %w", path, err))
		}
	}
	return errors.Join(errs...)
}
