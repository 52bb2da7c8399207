package dashboards

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// Query is one PromQL expression found in a generated dashboard: a panel target, or the series
// selector of a label_values(...) variable.
type Query struct {
	File      string // dashboard file name, e.g. "fallbackwatch-overview.json"
	Dashboard string // dashboard uid
	Panel     string // panel title; empty for a variable
	PanelID   int    // panel id; 0 for a variable
	RefID     string // target refId; empty for a variable
	Variable  string // variable name, for a variable's selector; empty for a panel target
	Label     string // for a variable: the label whose values it lists
	Instant   bool   // evaluated once at the end of the range rather than as a range query
	Expr      string // the expression as written, with Grafana variables ($service, $__rate_interval)
}

// Where names the query for messages: `fallbackwatch-overview "Failed fallbacks" B`.
func (q Query) Where() string {
	if q.Variable != "" {
		return fmt.Sprintf("%s variable %s", q.Dashboard, q.Variable)
	}
	return fmt.Sprintf("%s panel %d %q target %s", q.Dashboard, q.PanelID, q.Panel, q.RefID)
}

// dashboardJSON is the part of a dashboard that holds queries.
type dashboardJSON struct {
	UID        string      `json:"uid"`
	Panels     []panelJSON `json:"panels"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type panelJSON struct {
	ID      int         `json:"id"`
	Title   string      `json:"title"`
	Type    string      `json:"type"`
	Panels  []panelJSON `json:"panels"`
	Targets []struct {
		RefID   string `json:"refId"`
		Expr    string `json:"expr"`
		Instant bool   `json:"instant"`
	} `json:"targets"`
}

var labelValuesRE = regexp.MustCompile(`^label_values\((.*),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$`)

// Queries lists every query of the dashboard JSON files among files (other files are ignored), in
// file name order, then panel order, then refId order; variables come first in each file. It is
// what an end-to-end test runs against Prometheus after Expand.
func Queries(files map[string][]byte) ([]Query, error) {
	names := make([]string, 0, len(files))
	for name := range files {
		if strings.HasSuffix(name, ".json") {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	var out []Query
	for _, name := range names {
		var d dashboardJSON
		if err := json.Unmarshal(files[name], &d); err != nil {
			return nil, fmt.Errorf("dashboard %s: %w", name, err)
		}
		for _, v := range d.Templating.List {
			if v.Type != "query" {
				continue
			}
			q, ok := v.Query.(string)
			if !ok {
				return nil, fmt.Errorf("dashboard %s: variable %s: query is not a string", name, v.Name)
			}
			m := labelValuesRE.FindStringSubmatch(q)
			if m == nil {
				return nil, fmt.Errorf("dashboard %s: variable %s: query %q is not label_values(selector, label)", name, v.Name, q)
			}
			out = append(out, Query{File: name, Dashboard: d.UID, Variable: v.Name, Label: m[2], Instant: true, Expr: m[1]})
		}
		var walk func([]panelJSON)
		walk = func(ps []panelJSON) {
			for _, p := range ps {
				for _, t := range p.Targets {
					out = append(out, Query{File: name, Dashboard: d.UID, Panel: p.Title, PanelID: p.ID,
						RefID: t.RefID, Instant: t.Instant, Expr: t.Expr})
				}
				walk(p.Panels)
			}
		}
		walk(d.Panels)
	}
	return out, nil
}

// DefaultValues are values for every variable the dashboards use, as Grafana would substitute
// them with "All" selected: a 1m rate interval (four times a 15s scrape interval), a 1h range.
func DefaultValues() map[string]string {
	return map[string]string{
		"__rate_interval": "1m",
		"__interval":      "15s",
		"__range":         "1h",
		varDatasource:     "prometheus",
		varNamespace:      ".*",
		varService:        ".*",
		varSubset:         ".*",
	}
}

var variableRE = regexp.MustCompile(`\$\{([a-zA-Z_][a-zA-Z0-9_]*)\}|\$([a-zA-Z_][a-zA-Z0-9_]*)|\[\[([a-zA-Z_][a-zA-Z0-9_]*)\]\]`)

// Expand substitutes Grafana variables ($name, ${name}, [[name]]) in expr with values, giving
// plain PromQL. A variable without a value is an error naming it.
func Expand(expr string, values map[string]string) (string, error) {
	var missing []string
	out := variableRE.ReplaceAllStringFunc(expr, func(m string) string {
		sub := variableRE.FindStringSubmatch(m)
		name := sub[1] + sub[2] + sub[3]
		v, ok := values[name]
		if !ok {
			missing = append(missing, name)
			return m
		}
		return v
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("expression %q: no value for variable(s) %s", expr, strings.Join(missing, ", "))
	}
	return out, nil
}

// Variables lists the Grafana variables expr refers to, in order of appearance, without
// duplicates.
func Variables(expr string) []string {
	var out []string
	seen := map[string]bool{}
	for _, sub := range variableRE.FindAllStringSubmatch(expr, -1) {
		name := sub[1] + sub[2] + sub[3]
		if !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
	}
	return out
}
