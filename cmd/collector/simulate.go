package main

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"text/tabwriter"

	"github.com/alecthomas/kingpin/v2"

	"github.com/fallbackwatch/fallbackwatch/internal/cli"
	"github.com/fallbackwatch/fallbackwatch/routing"
)

// simulateOutput is the JSON form of `collector simulate`.
type simulateOutput struct {
	Routes      []routing.RouteShares `json:"routes"`
	Multipliers []multiplierOutput    `json:"multipliers"`
}

// multiplierOutput is one entry of "multipliers": the worst load on an endpoint if any single
// other endpoint of a route went down. Factor is null when the endpoint carries nothing normally.
type multiplierOutput struct {
	Endpoint string   `json:"endpoint"`
	Factor   *float64 `json:"factor"`
	Normal   float64  `json:"normal"`
	Worst    float64  `json:"worst"`
	Down     string   `json:"down"`
	Route    string   `json:"route"`
}

func defineSimulate(app *kingpin.Application, env cli.Env) func() int {
	f := &routingFlags{}
	var down cli.Strings
	c := app.Command("simulate", "Compute where each route's traffic is served when subsets go down.")
	defineRoutingFlags(c, f)
	c.Flag("down", "HOST/SUBSET with no healthy endpoint, HOST short or FQDN; HOST alone takes every subset down (repeatable).").
		PlaceHolder("HOST/SUBSET").SetValue(&down)
	return func() int { return runSimulate(env, f, down) }
}

func runSimulate(env cli.Env, rf *routingFlags, down cli.Strings) int {
	format := &rf.format
	cfg, code := loadRouting(env, "simulate", rf.load, rf.paths)
	if cfg == nil {
		return code
	}
	for _, f := range cfg.Lint() {
		if f.Severity == routing.SeverityError {
			fmt.Fprintf(env.Stderr, "%s:%d: warning: configuration error, simulated as written: %s (%s)\n", f.File, f.Line, f.Message, f.Rule)
		}
	}
	sim, err := cfg.Simulate(down)
	if err != nil {
		fmt.Fprintf(env.Stderr, "collector simulate: %v\n", err)
		return cli.ExitUsage
	}
	ms := cfg.LoadMultipliers()
	if *format == "json" {
		out := simulateOutput{Routes: sim.Routes, Multipliers: []multiplierOutput{}}
		if out.Routes == nil {
			out.Routes = []routing.RouteShares{}
		}
		for _, m := range ms {
			mo := multiplierOutput{Endpoint: m.Endpoint, Normal: m.Normal, Worst: m.Worst, Down: m.Down, Route: m.Route}
			if !math.IsInf(m.Factor, 0) {
				f := m.Factor
				mo.Factor = &f
			}
			out.Multipliers = append(out.Multipliers, mo)
		}
		enc := json.NewEncoder(env.Stdout)
		if err := enc.Encode(out); err != nil {
			fmt.Fprintf(env.Stderr, "collector simulate: %v\n", err)
			return cli.ExitError
		}
		return cli.ExitOK
	}
	w := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
	if len(sim.Down) == 0 {
		fmt.Fprintln(w, "Down: nothing")
	} else {
		fmt.Fprintf(w, "Down: %v\n", sim.Down)
	}
	fmt.Fprintln(w, "\nROUTE\tSERVED BY\tSHARE")
	for _, r := range sim.Routes {
		keys := make([]string, 0, len(r.Final))
		for k := range r.Final {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		label := r.Route.Label()
		for _, k := range keys {
			fmt.Fprintf(w, "%s\t%s\t%s\n", label, k, pct(r.Final[k]))
			label = ""
		}
		if r.Failed > 0 || len(keys) == 0 {
			fmt.Fprintf(w, "%s\t%s\t%s\n", label, "failed (503)", pct(r.Failed))
		}
	}
	fmt.Fprintln(w, "\nWorst load if any single other subset goes down (per route, nothing else down):")
	fmt.Fprintln(w, "SUBSET\tNORMAL\tWORST\tMULTIPLIER\tWHEN DOWN\tROUTE")
	for _, m := range ms {
		factor := "new load"
		if !math.IsInf(m.Factor, 0) {
			factor = fmt.Sprintf("%.2f×", m.Factor)
		}
		when := m.Down
		if when == "" {
			when = "-"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", m.Endpoint, pct(m.Normal), pct(m.Worst), factor, when, m.Route)
	}
	if err := w.Flush(); err != nil {
		fmt.Fprintf(env.Stderr, "collector simulate: %v\n", err)
		return cli.ExitError
	}
	return cli.ExitOK
}

func pct(x float64) string { return fmt.Sprintf("%.1f%%", 100*x) }
