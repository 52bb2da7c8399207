package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/alecthomas/kingpin/v2"

	"github.com/fallbackwatch/fallbackwatch/internal/cli"
	"github.com/fallbackwatch/fallbackwatch/routing"
)

// loadRouting reads the configuration named by --routing and positional arguments, printing
// located errors on failure. It returns nil and the exit code when the configuration is unusable.
func loadRouting(env cli.Env, cmd string, src *cli.Routing, paths []string) (*routing.Config, int) {
	if err := src.Validate(paths); err != nil {
		fmt.Fprintf(env.Stderr, "collector %s: %v\n", cmd, err)
		return nil, cli.ExitUsage
	}
	if len(paths) == 0 && !src.Kube() {
		fmt.Fprintf(env.Stderr, "collector %s: no routing configuration given (--routing PATH, or --routing.kubeconfig PATH)\n", cmd)
		return nil, cli.ExitUsage
	}
	cfg, err := src.Load(context.Background(), paths)
	if err != nil {
		var le *routing.LoadErrors
		if errors.As(err, &le) {
			for _, e := range le.Errs {
				fmt.Fprintf(env.Stderr, "%s: error: %s\n", location(e), strings.TrimPrefix(e.Error(), location(e)+": "))
			}
			fmt.Fprintf(env.Stderr, "collector %s: routing configuration cannot be read: %d error(s)\n", cmd, len(le.Errs))
		} else {
			fmt.Fprintf(env.Stderr, "collector %s: %v\n", cmd, err)
		}
		return nil, cli.ExitError
	}
	printNotes(env.Stderr, cfg)
	return cfg, cli.ExitOK
}

// printNotes tells what loading skipped and what it resolved without error (an object defined
// twice: the later definition wins), one located line each.
func printNotes(w io.Writer, cfg *routing.Config) {
	for _, ig := range cfg.Ignored {
		fmt.Fprintf(w, "%s: note: skipped\n", ig)
	}
	for _, n := range cfg.Notes {
		fmt.Fprintf(w, "%s:%d: note: %s\n", n.File, n.Line, n.Message)
	}
}

// logNotes is printNotes for the collector's log.
func logNotes(logger *slog.Logger, cfg *routing.Config) {
	for _, ig := range cfg.Ignored {
		logger.Info("routing configuration: skipped", "what", ig)
	}
	for _, n := range cfg.Notes {
		logger.Info("routing configuration: note", "file", n.File, "line", n.Line, "note", n.Message)
	}
}

// location is "FILE:LINE:COL" for a load error.
func location(e *routing.LoadError) string {
	s := e.File
	if e.Line > 0 {
		s += fmt.Sprintf(":%d", e.Line)
		if e.Column > 0 {
			s += fmt.Sprintf(":%d", e.Column)
		}
	}
	return s
}

// routingFlags are the flags of the commands that only read a routing configuration.
type routingFlags struct {
	paths  cli.Strings
	load   *cli.Routing
	format string
}

func defineRoutingFlags(c *kingpin.CmdClause, f *routingFlags) {
	c.Flag("routing", "VirtualService and DestinationRule YAML/JSON file or directory (repeatable).").
		PlaceHolder("PATH").SetValue(&f.paths)
	f.load = cli.RoutingFlags(c)
	c.Flag("format", "Output format: text or json.").Default("text").EnumVar(&f.format, "text", "json")
	c.Arg("paths", "More routing files or directories, as --routing.").PlaceHolder("PATH").SetValue(&f.paths)
}

func defineLint(app *kingpin.Application, env cli.Env) func() int {
	f := &routingFlags{}
	c := app.Command("lint", "Check VirtualServices and DestinationRules for fallback problems.")
	defineRoutingFlags(c, f)
	return func() int { return runLint(env, f) }
}

func runLint(env cli.Env, rf *routingFlags) int {
	paths, format := rf.paths, &rf.format
	cfg, code := loadRouting(env, "lint", rf.load, paths)
	if cfg == nil {
		return code
	}
	findings := cfg.Lint()
	errs, warns := 0, 0
	for _, f := range findings {
		if f.Severity == routing.SeverityError {
			errs++
		} else {
			warns++
		}
	}
	if *format == "json" {
		if findings == nil {
			findings = []routing.Finding{}
		}
		out := struct {
			Findings []routing.Finding `json:"findings"`
			Errors   int               `json:"errors"`
			Warnings int               `json:"warnings"`
		}{findings, errs, warns}
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			fmt.Fprintf(env.Stderr, "collector lint: %v\n", err)
			return cli.ExitError
		}
	} else {
		for _, f := range findings {
			fmt.Fprintf(env.Stdout, "%s:%d: %s: %s %s: %s (%s, %s)\n", f.File, f.Line, f.Severity, f.Resource, f.Path, f.Message, f.Rule, f.Code)
		}
	}
	if len(findings) > 0 {
		fmt.Fprintf(env.Stderr, "collector lint: %d error(s), %d warning(s) in %d VirtualService(s), %d DestinationRule(s)\n",
			errs, warns, len(cfg.VirtualServices), len(cfg.DestinationRules))
		return cli.ExitFindings
	}
	if *format == "text" {
		fmt.Fprintf(env.Stdout, "SUCCESS: %d VirtualService(s), %d DestinationRule(s), no findings\n", len(cfg.VirtualServices), len(cfg.DestinationRules))
	}
	return cli.ExitOK
}
