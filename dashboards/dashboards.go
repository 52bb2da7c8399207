// Package dashboards generates the Grafana dashboards for fallbackwatch: an overview of fallback
// traffic (how often each subset falls back, fallbacks that fail, where traffic is finally served,
// capacity pressure, whether each configured fallback target could absorb its source failing, and
// decisions that contradict the routing configuration) and a pipeline-health dashboard for the
// collectors themselves. Output is deterministic Grafana dashboard JSON plus a Kubernetes ConfigMap
// for Grafana's sidecar provisioning.
//
// Every query uses only the metrics listed in docs/metrics.md and aggregates with `sum by (...)`
// (or `max by` for per-partition gauges), because several collectors each export a share of the
// traffic. The package does not read routing files or capacity files (see package topology) and
// does not write files: Generate returns file names and contents, the caller writes them.
package dashboards

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"

	"github.com/fallbackwatch/fallbackwatch/topology"
)

// Options configure the generated dashboards. The zero value is valid: WithDefaults fills every
// unset field, and Generate applies it.
type Options struct {
	// Selector holds extra label matchers added to every query and variable, for example
	// `cluster="prod"` or `{job="fallbackwatch", cluster="prod"}`. Empty means none.
	Selector string
	// TitlePrefix starts every dashboard title ("Fallbackwatch" → "Fallbackwatch / Overview").
	TitlePrefix string
	// UIDPrefix starts every dashboard uid and file name: <prefix>-overview, <prefix>-pipeline.
	UIDPrefix string
	// Datasource is the name of the Prometheus data source the datasource variable selects first;
	// empty leaves the choice to Grafana (its default data source).
	Datasource string
	// Namespace is the Kubernetes namespace of the ConfigMap.
	Namespace string
	// ConfigMapName names the ConfigMap; default "<UIDPrefix>-dashboards".
	ConfigMapName string
	// ConfigMapLabels are the ConfigMap's labels; Grafana's sidecar finds dashboards by them.
	ConfigMapLabels map[string]string
	// FallbackShare is the share of a subset's requests falling back that panels mark as too high
	// (a ratio, 0.05 = 5%).
	FallbackShare float64
	// CapacityWarning is the share of capacity at which capacity panels turn orange; they turn red
	// at 100%.
	CapacityWarning float64
	// Baseline is how far back "normal load" is taken from when a subset has no capacity, as a
	// Prometheus duration ("1d", "1w").
	Baseline string
	// TopEdges is how many rows the top fallback edges table shows.
	TopEdges int
	// Refresh is the dashboards' auto-refresh interval.
	Refresh string
}

// WithDefaults returns o with every unset field set to its default. It is the one place defaults
// live.
func (o Options) WithDefaults() Options {
	if o.TitlePrefix == "" {
		o.TitlePrefix = "Fallbackwatch"
	}
	if o.UIDPrefix == "" {
		o.UIDPrefix = "fallbackwatch"
	}
	if o.Namespace == "" {
		o.Namespace = "monitoring"
	}
	if o.ConfigMapName == "" {
		o.ConfigMapName = o.UIDPrefix + "-dashboards"
	}
	if o.ConfigMapLabels == nil {
		o.ConfigMapLabels = map[string]string{"grafana_dashboard": "1"}
	}
	if o.FallbackShare == 0 {
		o.FallbackShare = 0.05
	}
	if o.CapacityWarning == 0 {
		o.CapacityWarning = 0.8
	}
	if o.Baseline == "" {
		o.Baseline = "1d"
	}
	if o.TopEdges == 0 {
		o.TopEdges = 10
	}
	if o.Refresh == "" {
		o.Refresh = "30s"
	}
	return o
}

var (
	// uidRE keeps uids short and URL-safe: Grafana allows at most 40 characters, and the longest
	// suffix added is "-overview" (9).
	uidPrefixRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_-]{0,30}$`)
	// dnsLabelRE and dnsSubdomainRE are Kubernetes' name rules (RFC 1123).
	dnsLabelRE     = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)
	dnsSubdomainRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$`)
	// k8sLabelNameRE and k8sLabelValueRE are Kubernetes' label rules (name part; prefix checked as
	// a DNS subdomain).
	k8sLabelNameRE  = regexp.MustCompile(`^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$`)
	k8sLabelValueRE = regexp.MustCompile(`^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$`)
)

// Validate reports every problem with o (after defaults), each naming the option.
func (o Options) Validate() error {
	o = o.WithDefaults()
	var errs []error
	if _, err := parseSelector(o.Selector); err != nil {
		errs = append(errs, err)
	}
	if !uidPrefixRE.MatchString(o.UIDPrefix) {
		errs = append(errs, fmt.Errorf("uid prefix %q: want 1-31 letters, digits, '-' or '_', starting with a letter or digit", o.UIDPrefix))
	}
	if !dnsLabelRE.MatchString(o.Namespace) {
		errs = append(errs, fmt.Errorf("namespace %q: not a valid Kubernetes namespace name", o.Namespace))
	}
	if !dnsSubdomainRE.MatchString(o.ConfigMapName) {
		errs = append(errs, fmt.Errorf("configmap name %q: not a valid Kubernetes object name", o.ConfigMapName))
	}
	for _, k := range slices.Sorted(maps.Keys(o.ConfigMapLabels)) {
		if err := validLabel(k, o.ConfigMapLabels[k]); err != nil {
			errs = append(errs, fmt.Errorf("configmap label %q: %w", k, err))
		}
	}
	if !(o.FallbackShare > 0 && o.FallbackShare <= 1) {
		errs = append(errs, fmt.Errorf("fallback share threshold %v: want a ratio in (0, 1]", o.FallbackShare))
	}
	if !(o.CapacityWarning > 0 && o.CapacityWarning < 1) {
		errs = append(errs, fmt.Errorf("capacity warning %v: want a ratio in (0, 1)", o.CapacityWarning))
	}
	if d, err := model.ParseDuration(o.Baseline); err != nil || d <= 0 {
		errs = append(errs, fmt.Errorf("baseline %q: want a positive Prometheus duration such as 1d or 1w", o.Baseline))
	}
	if o.TopEdges < 1 || o.TopEdges > 1000 {
		errs = append(errs, fmt.Errorf("top edges %d: want 1..1000", o.TopEdges))
	}
	if d, err := model.ParseDuration(o.Refresh); err != nil || d <= 0 {
		errs = append(errs, fmt.Errorf("refresh %q: want a positive duration such as 30s or 1m", o.Refresh))
	}
	return errors.Join(errs...)
}

func validLabel(k, v string) error {
	name := k
	if prefix, n, ok := strings.Cut(k, "/"); ok {
		if !dnsSubdomainRE.MatchString(prefix) {
			return fmt.Errorf("prefix %q is not a DNS subdomain", prefix)
		}
		name = n
	}
	if !k8sLabelNameRE.MatchString(name) {
		return errors.New("not a valid Kubernetes label name")
	}
	if !k8sLabelValueRE.MatchString(v) {
		return fmt.Errorf("value %q is not a valid Kubernetes label value", v)
	}
	return nil
}

// parseSelector checks a selector with the PromQL parser and returns its matchers in canonical
// form (`name="value"`), in the order given. Braces are optional; "" and "{}" mean none.
func parseSelector(s string) ([]string, error) {
	inner := strings.TrimSpace(s)
	if strings.HasPrefix(inner, "{") && strings.HasSuffix(inner, "}") {
		inner = strings.TrimSpace(inner[1 : len(inner)-1])
	}
	if inner == "" {
		return nil, nil
	}
	// Parse it as a selector on a real metric name, so that matchers that only match empty
	// values (`cluster=""`) are accepted as they would be in our queries.
	expr, err := parser.NewParser(parser.Options{}).ParseExpr("fallbackwatch_requests_total{" + inner + "}")
	if err != nil {
		return nil, fmt.Errorf("selector %q: %w", s, err)
	}
	vs, ok := expr.(*parser.VectorSelector)
	if !ok {
		return nil, fmt.Errorf("selector %q: want label matchers such as {cluster=\"prod\"}", s)
	}
	var out []string
	for _, m := range vs.LabelMatchers {
		if m.Name == model.MetricNameLabel {
			continue // the name added above; the parser rejects a second one
		}
		out = append(out, m.String())
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("selector %q: no label matchers", s)
	}
	return out, nil
}

// File names Generate returns, for the default UIDPrefix.
const (
	OverviewFile  = "fallbackwatch-overview.json"
	PipelineFile  = "fallbackwatch-pipeline.json"
	ConfigMapFile = "fallbackwatch-dashboards-configmap.yaml"
)

// Generate builds the dashboards for t (nil or empty: generic dashboards that work for every
// service) and returns file name → content: "<UIDPrefix>-overview.json",
// "<UIDPrefix>-pipeline.json" and "<UIDPrefix>-dashboards-configmap.yaml", whose data holds the two
// JSON files under their file names. Output depends only on t and opts.
func Generate(t *topology.Topology, opts Options) (map[string][]byte, error) {
	opts = opts.WithDefaults()
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("dashboard options: %w", err)
	}
	if t == nil {
		t = &topology.Topology{}
	}
	if err := checkTopology(t); err != nil {
		return nil, err
	}
	sel, _ := parseSelector(opts.Selector) // validated above
	c := config{Options: opts, topo: sortedCopy(t), sel: sel}

	files := make(map[string][]byte, 3)
	for _, d := range []struct {
		suffix string
		build  func(config) *dashboardBuilder
	}{
		{"overview", overview},
		{"pipeline", pipeline},
	} {
		dash, err := d.build(c).Build()
		if err != nil {
			return nil, fmt.Errorf("dashboard %s-%s: %w", opts.UIDPrefix, d.suffix, err)
		}
		data, err := json.MarshalIndent(dash, "", "  ")
		if err != nil {
			return nil, fmt.Errorf("dashboard %s-%s: %w", opts.UIDPrefix, d.suffix, err)
		}
		files[opts.UIDPrefix+"-"+d.suffix+".json"] = append(data, '\n')
	}
	cm, err := configMap(opts, files)
	if err != nil {
		return nil, err
	}
	files[opts.UIDPrefix+"-dashboards-configmap.yaml"] = cm
	return files, nil
}

// checkTopology rejects what would produce broken queries: capacities that are not positive and
// edges or subsets with empty names.
func checkTopology(t *topology.Topology) error {
	var errs []error
	for _, s := range t.Subsets {
		if s.Service == "" || s.Subset == "" {
			errs = append(errs, fmt.Errorf("topology: subset %q: empty service or subset", s.String()))
		}
	}
	for _, e := range t.Edges {
		if e.Route == "" || e.From.Service == "" || e.From.Subset == "" || e.To.Service == "" || e.To.Subset == "" {
			errs = append(errs, fmt.Errorf("topology: edge %q %s -> %s: empty route, service or subset", e.Route, e.From, e.To))
		}
	}
	for _, s := range sortedSubsets(t.Capacity) {
		if v := t.Capacity[s]; !(v > 0) {
			errs = append(errs, fmt.Errorf("topology: capacity of %s: %v is not a positive number of requests per second", s, v))
		}
	}
	return errors.Join(errs...)
}

// sortedCopy returns a copy of t in a stable order, leaving the caller's value alone.
func sortedCopy(t *topology.Topology) *topology.Topology {
	c := &topology.Topology{
		Subsets:  append([]topology.Subset(nil), t.Subsets...),
		Edges:    append([]topology.Edge(nil), t.Edges...),
		Capacity: t.Capacity,
	}
	c.Sort()
	return c
}

func sortedSubsets(m map[topology.Subset]float64) []topology.Subset {
	out := make([]topology.Subset, 0, len(m))
	for s := range m {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// configMapDoc is the subset of a Kubernetes ConfigMap we write.
type configMapDoc struct {
	APIVersion string            `yaml:"apiVersion"`
	Kind       string            `yaml:"kind"`
	Metadata   configMapMeta     `yaml:"metadata"`
	Data       map[string]string `yaml:"data"`
}

type configMapMeta struct {
	Name      string            `yaml:"name"`
	Namespace string            `yaml:"namespace"`
	Labels    map[string]string `yaml:"labels"`
}

// configMap wraps the dashboard files in one ConfigMap, data key = file name, for Grafana's
// dashboard sidecar (kube-prometheus-stack's grafana.sidecar.dashboards: label grafana_dashboard).
func configMap(o Options, files map[string][]byte) ([]byte, error) {
	doc := configMapDoc{
		APIVersion: "v1",
		Kind:       "ConfigMap",
		Metadata:   configMapMeta{Name: o.ConfigMapName, Namespace: o.Namespace, Labels: o.ConfigMapLabels},
		Data:       make(map[string]string, len(files)),
	}
	for name, data := range files {
		doc.Data[name] = string(data)
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("configmap %s/%s: %w", o.Namespace, o.ConfigMapName, err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("configmap %s/%s: %w", o.Namespace, o.ConfigMapName, err)
	}
	return buf.Bytes(), nil
}
