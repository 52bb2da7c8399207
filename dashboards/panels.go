package dashboards

import (
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"

	"github.com/fallbackwatch/fallbackwatch/topology"
)

type dashboardBuilder = dashboard.DashboardBuilder

// config is what every dashboard function reads: the options (defaults applied, validated), the
// topology in a stable order and the extra selector matchers.
type config struct {
	Options
	topo *topology.Topology
	sel  []string
}

// Variable names. Queries refer to them as $name; tests keep the two in step.
const (
	varDatasource = "datasource"
	varNamespace  = "namespace"
	varService    = "service"
	varSubset     = "subset"
)

// selector renders `{m1, m2, <extra selector>}` from the given matchers and the --selector ones,
// or "" when there are none.
func (c config) selector(ms ...string) string {
	all := append(append([]string(nil), ms...), c.sel...)
	if len(all) == 0 {
		return ""
	}
	return "{" + strings.Join(all, ", ") + "}"
}

// datasource is the reference every panel and target uses: the datasource variable.
func datasource() common.DataSourceRef {
	return common.DataSourceRef{Type: cog.ToPtr("prometheus"), Uid: cog.ToPtr("${" + varDatasource + "}")}
}

// newDashboard starts a dashboard with what both dashboards share: uid, title, tags, time,
// refresh, the datasource variable and links to the other fallbackwatch dashboards.
func newDashboard(c config, suffix, title, description string) *dashboardBuilder {
	ds := dashboard.NewDatasourceVariableBuilder(varDatasource).
		Label("Data source").
		Type("prometheus")
	if c.Datasource != "" {
		ds = ds.Current(dashboard.VariableOption{
			Text:  dashboard.StringOrArrayOfString{String: cog.ToPtr(c.Datasource)},
			Value: dashboard.StringOrArrayOfString{String: cog.ToPtr(c.Datasource)},
		})
	}
	return dashboard.NewDashboardBuilder(c.TitlePrefix+" / "+title).
		Uid(c.UIDPrefix+"-"+suffix).
		Description(description).
		Tags([]string{"fallbackwatch"}).
		Editable().
		Time("now-3h", "now").
		Timezone(common.TimeZoneBrowser).
		Refresh(c.Refresh).
		Tooltip(dashboard.DashboardCursorSyncCrosshair).
		Link(dashboard.NewDashboardLinkBuilder("Fallbackwatch").
			Type(dashboard.DashboardLinkTypeDashboards).
			Tags([]string{"fallbackwatch"}).
			AsDropdown(true).
			IncludeVars(true).
			KeepTime(true)).
		WithVariable(ds)
}

// labelVariable is a multi-value query variable over label_values(<metric><selector>, <label>),
// refreshed with the time range, "All" matching every value including the empty one.
func labelVariable(name, label, metric, selector, labelName string) *dashboard.QueryVariableBuilder {
	q := "label_values(" + metric + selector + ", " + labelName + ")"
	return dashboard.NewQueryVariableBuilder(name).
		Label(label).
		Datasource(datasource()).
		Query(dashboard.StringOrMap{String: cog.ToPtr(q)}).
		Definition(q).
		Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
		Sort(dashboard.VariableSortAlphabeticalAsc).
		Multi(true).
		IncludeAll(true).
		AllValue(".*").
		Current(dashboard.VariableOption{
			Text:  dashboard.StringOrArrayOfString{String: cog.ToPtr("All")},
			Value: dashboard.StringOrArrayOfString{String: cog.ToPtr("$__all")},
		})
}

// layout hands out panel ids in order, so ids are fixed by the code, not by map order or time.
type layout struct {
	b    *dashboardBuilder
	next uint32
}

func (l *layout) id() uint32 {
	l.next++
	return l.next
}

func (l *layout) row(title string) {
	l.b.WithRow(dashboard.NewRowBuilder(title).Id(l.id()))
}

func (l *layout) add(p cog.Builder[dashboard.Panel]) { l.b.WithPanel(p) }

// target is one query of a panel. Instant targets are evaluated once and formatted as a table.
type target struct {
	expr    string
	legend  string
	instant bool
}

// refID names the i-th target of a panel: A … Z, then AA, AB …
func refID(i int) string {
	s := ""
	for i++; i > 0; i = (i - 1) / 26 {
		s = string(rune('A'+(i-1)%26)) + s
	}
	return s
}

func queries(ts []target) []cog.Builder[variants.Dataquery] {
	out := make([]cog.Builder[variants.Dataquery], 0, len(ts))
	for i, t := range ts {
		q := prometheus.NewDataqueryBuilder().
			Datasource(datasource()).
			RefId(refID(i)).
			Expr(t.expr)
		if t.legend != "" {
			q = q.LegendFormat(t.legend)
		}
		if t.instant {
			q = q.Instant().Format(prometheus.PromQueryFormatTable)
		} else {
			q = q.Range()
		}
		out = append(out, q)
	}
	return out
}

// panel is what every panel style shares.
type panel struct {
	title       string
	description string
	unit        string
	w, h        uint32
	targets     []target
	thresholds  []step // first step is the base colour; nil = the style's default
}

// step is one threshold step: from value on, colour.
type step struct {
	value *float64 // nil for the base step
	color string
}

func base(color string) step          { return step{color: color} }
func at(v float64, color string) step { return step{value: cog.ToPtr(v), color: color} }
func steps(s ...step) []step          { return s }
func okThenRed(limit float64) []step  { return steps(base("green"), at(limit, "red")) }
func okWarnRed(warn, limit float64) []step {
	return steps(base("green"), at(warn, "orange"), at(limit, "red"))
}

func thresholds(s []step) *dashboard.ThresholdsConfigBuilder {
	out := make([]dashboard.Threshold, 0, len(s))
	for _, x := range s {
		out = append(out, dashboard.Threshold{Value: x.value, Color: x.color})
	}
	return dashboard.NewThresholdsConfigBuilder().Mode(dashboard.ThresholdsModeAbsolute).Steps(out)
}

// chart is a time series panel: one line per series, legend as a table with mean and last value.
// Thresholds, when given, are drawn as dashed lines.
func chart(id uint32, p panel) *timeseries.PanelBuilder {
	b := timeseries.NewPanelBuilder().
		Id(id).
		Title(p.title).
		Description(p.description).
		Datasource(datasource()).
		Targets(queries(p.targets)).
		Unit(p.unit).
		Min(0).
		Span(p.w).
		Height(p.h).
		LineWidth(1).
		FillOpacity(10).
		ShowPoints(common.VisibilityModeNever).
		Legend(common.NewVizLegendOptionsBuilder().
			DisplayMode(common.LegendDisplayModeTable).
			Placement(common.LegendPlacementBottom).
			ShowLegend(true).
			Calcs([]string{"mean", "lastNotNull", "max"}).
			SortBy("Mean").
			SortDesc(true)).
		Tooltip(common.NewVizTooltipOptionsBuilder().
			Mode(common.TooltipDisplayModeMulti).
			Sort(common.SortOrderDescending))
	if p.thresholds != nil {
		b = b.Thresholds(thresholds(p.thresholds)).
			ThresholdsStyle(common.NewGraphThresholdsStyleConfigBuilder().Mode(common.GraphThresholdsStyleModeDashed))
	}
	return b
}

// stackedChart is a time series panel whose series stack to a total.
func stackedChart(id uint32, p panel) *timeseries.PanelBuilder {
	return chart(id, p).
		FillOpacity(60).
		LineWidth(0).
		Stacking(common.NewStackingConfigBuilder().Mode(common.StackingModeNormal))
}

// single is a stat panel showing the last value of each series, coloured by thresholds.
func single(id uint32, p panel) *stat.PanelBuilder {
	b := stat.NewPanelBuilder().
		Id(id).
		Title(p.title).
		Description(p.description).
		Datasource(datasource()).
		Targets(queries(p.targets)).
		Unit(p.unit).
		Span(p.w).
		Height(p.h).
		GraphMode(common.BigValueGraphModeArea).
		ColorMode(common.BigValueColorModeValue).
		ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"}).Values(false))
	if p.thresholds != nil {
		b = b.Thresholds(thresholds(p.thresholds))
	}
	return b
}

// column describes one table column: the field it comes from ("Value #A" for instant query A, or
// a label name), its header, unit and optional cell colouring by thresholds.
type column struct {
	field      string
	header     string
	unit       string
	thresholds []step
}

// grid is a table panel over instant queries: their results are merged on their labels into one
// row per label set, the Time column is hidden, and columns are renamed, ordered and formatted as
// given. Fields not listed keep their name and come last.
func grid(id uint32, p panel, cols []column, sortBy string) *table.PanelBuilder {
	rename := map[string]any{}
	index := map[string]any{}
	for i, c := range cols {
		rename[c.field] = c.header
		index[c.field] = i
	}
	b := table.NewPanelBuilder().
		Id(id).
		Title(p.title).
		Description(p.description).
		Datasource(datasource()).
		Targets(queries(p.targets)).
		Span(p.w).
		Height(p.h).
		WithTransformation(dashboard.DataTransformerConfig{Id: "merge", Options: map[string]any{}}).
		WithTransformation(dashboard.DataTransformerConfig{Id: "organize", Options: map[string]any{
			"excludeByName": map[string]any{"Time": true},
			"indexByName":   index,
			"renameByName":  rename,
		}}).
		CellHeight(common.TableCellHeightSm).
		Footer(common.NewTableFooterOptionsBuilder().Show(false).Reducer([]string{"sum"}))
	if sortBy != "" {
		b = b.SortBy([]cog.Builder[common.TableSortByFieldState]{
			common.NewTableSortByFieldStateBuilder().DisplayName(sortBy).Desc(true),
		})
	}
	for _, c := range cols {
		var props []dashboard.DynamicConfigValue
		if c.unit != "" {
			props = append(props, dashboard.DynamicConfigValue{Id: "unit", Value: c.unit})
		}
		if c.thresholds != nil {
			ts, _ := thresholds(c.thresholds).Build() // no error path: plain values
			props = append(props,
				dashboard.DynamicConfigValue{Id: "thresholds", Value: ts},
				dashboard.DynamicConfigValue{Id: "custom.cellOptions", Value: map[string]any{"type": "color-background", "mode": "basic"}},
			)
		}
		if props != nil {
			b = b.OverrideByName(c.header, props)
		}
	}
	return b
}
