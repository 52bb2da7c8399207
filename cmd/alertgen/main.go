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
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

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
	namespace  string
	domain     string
	dashboards bool
	dashNS     string
	opts       alerts.Options
}

func flags(env cli.Env) (*flag.FlagSet, *config) {
	c := &config{opts: alerts.DefaultOptions()}
	fs := cli.NewFlagSet("alertgen", "alertgen [--routing PATH]... [--capacity FILE] [--out DIR] [--format rules,prometheusrule] [flags]", env.Stderr)
	fs.Var(&c.routing, "routing", "VirtualService/DestinationRule YAML file or directory (repeatable); none: generic rules")
	fs.StringVar(&c.capacity, "capacity", "", "capacity file: requests per second per host/subset (needs --routing)")
	fs.StringVar(&c.out, "out", ".", "directory to write into")
	fs.StringVar(&c.formats, "format", "rules", "comma-separated: rules (rules.yaml and its promtool test rules.test.yaml), prometheusrule (prometheusrule.yaml)")
	fs.StringVar(&c.namespace, "namespace", routing.DefaultNamespace, "namespace of resources that name none, and of short hosts in the capacity file")
	fs.StringVar(&c.domain, "domain", routing.DefaultDomain, "cluster domain completing short host names")
	fs.BoolVar(&c.dashboards, "dashboards", true, "also write the Grafana dashboards and their ConfigMap under <out>/dashboards")
	fs.StringVar(&c.dashNS, "dashboards.namespace", "", "namespace of the dashboards ConfigMap (default monitoring)")
	o := &c.opts
	fs.StringVar(&o.Selector, "selector", "", `PromQL label matchers added to every selector, e.g. '{namespace="mesh"}'`)
	fs.StringVar(&o.RunbookURL, "runbook-url", o.RunbookURL, "base of every runbook_url annotation; #<alert name in lower case> is appended")
	fs.StringVar(&o.Name, "name", o.Name, "PrometheusRule name and rule group name prefix")
	for _, d := range []struct {
		name string
		v    *model.Duration
		help string
	}{
		{"window.short", &o.Windows.Short, "short rate window: current behaviour"},
		{"window.long", &o.Windows.Long, "long rate window: confirms a condition is sustained"},
		{"window.baseline", &o.Windows.Baseline, "how far back a fallback target's normal load lies (without capacity)"},
		{"for.sustained-warning", &o.For.SustainedWarning, "for of FallbackSustained at the warning threshold"},
		{"for.sustained-critical", &o.For.SustainedCritical, "for of FallbackSustained at the critical threshold"},
		{"for.failed", &o.For.Failed, "for of FallbackFailed"},
		{"for.unprotected", &o.For.Unprotected, "for of UnprotectedOutage"},
		{"for.capacity", &o.For.Capacity, "for of FallbackTargetOverCapacity and FallbackTargetLoadHigh"},
		{"for.failover", &o.For.Failover, "for of FailoverExceedsCapacity and FailoverExceedsObservedPeak"},
		{"for.inconsistent", &o.For.Inconsistent, "for of FallbackDecisionsInconsistent"},
		{"for.pipeline", &o.For.Pipeline, "for of the collector absent/down, rejected lines and label overflow alerts"},
		{"for.kafka-lag", &o.For.KafkaLag, "for of FallbackwatchKafkaLagGrowing"},
	} {
		fs.Var(durationFlag{d.v}, d.name, "`duration`: "+d.help)
	}
	t := &o.Thresholds
	for _, f := range []struct {
		name string
		v    *float64
		help string
	}{
		{"threshold.sustained-warning", &t.SustainedWarning, "share of a subset's requests falling back: warning"},
		{"threshold.sustained-critical", &t.SustainedCritical, "share of a subset's requests falling back: critical"},
		{"threshold.failed", &t.Failed, "share of a subset's requests whose fallback failed"},
		{"threshold.unprotected", &t.Unprotected, "share of 5xx among requests without fallback"},
		{"threshold.capacity", &t.Capacity, "served load / capacity"},
		{"threshold.relative-load", &t.RelativeLoad, "served load / normal load, without capacity"},
		{"threshold.failover", &t.Failover, "load after a failover / capacity (N-1)"},
		{"threshold.failover-peak", &t.FailoverPeak, "load after a failover / recent peak, without capacity"},
		{"threshold.inconsistent", &t.Inconsistent, "share of checked records contradicting the configuration"},
		{"threshold.rejected", &t.Rejected, "share of read lines rejected"},
		{"threshold.kafka-lag", &t.KafkaLag, "Kafka lag in messages above which growth alerts"},
		{"min-rps", &t.MinRPS, "minimum requests (or lines) per second before ratios are judged"},
	} {
		fs.Float64Var(f.v, f.name, *f.v, f.help)
	}
	fs.StringVar(&o.Severities.Page, "severity.page", o.Severities.Page, "severity label of alerts that page")
	fs.StringVar(&o.Severities.Warning, "severity.warning", o.Severities.Warning, "severity label of warnings")
	fs.StringVar(&o.Severities.Info, "severity.info", o.Severities.Info, "severity label of informational alerts")
	return fs, c
}

// Main runs alertgen with the given arguments and returns its exit code.
func Main(env cli.Env, args []string) int {
	fs, c := flags(env)
	if code, ok := cli.Parse(fs, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(env.Stderr, "alertgen: unexpected argument %q (use --routing PATH)\n", fs.Arg(0))
		return cli.ExitUsage
	}
	formats := map[string]bool{}
	for _, f := range strings.Split(c.formats, ",") {
		switch f = strings.TrimSpace(f); f {
		case "rules", "prometheusrule":
			formats[f] = true
		default:
			fmt.Fprintf(env.Stderr, "alertgen: --format %q: want rules, prometheusrule or both, comma-separated\n", f)
			return cli.ExitUsage
		}
	}
	if c.capacity != "" && len(c.routing) == 0 {
		fmt.Fprintln(env.Stderr, "alertgen: --capacity needs --routing: capacities are checked against the subsets the configuration defines")
		return cli.ExitUsage
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
	if len(c.routing) == 0 {
		return nil, nil
	}
	cfg, err := routing.LoadWith(routing.LoadOptions{Namespace: c.namespace, Domain: c.domain}, c.routing...)
	if err != nil {
		return nil, fmt.Errorf("routing configuration: %w", err)
	}
	t := fromRouting(cfg)
	if c.capacity != "" {
		capa, err := topology.LoadCapacity(c.capacity, t, c.namespace, c.domain)
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
