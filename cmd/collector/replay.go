package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"time"

	"github.com/fallbackwatch/fallbackwatch/internal/cli"
	"github.com/fallbackwatch/fallbackwatch/internal/replay"
	"github.com/fallbackwatch/fallbackwatch/routing"
	"golang.org/x/term"
)

const replayUsage = "collector replay [--routing PATH]... [--format text|json|html|markdown] [--output FILE] FILE... ('-' reads standard input)"

func runReplay(env cli.Env, args []string) int {
	fs := cli.NewFlagSet("replay", replayUsage, env.Stderr)
	var routingPaths cli.Strings
	fs.Var(&routingPaths, "routing", "VirtualService and DestinationRule YAML file or directory (repeatable); enables the routing checks")
	format := fs.String("format", "text", "report format: "+strings.Join(replay.Formats, ", "))
	output := fs.String("output", "", "write the report to this file instead of standard output")
	maxLine := fs.Int("max-line-bytes", 1<<20, "longest line accepted; longer lines are skipped and counted")
	workers := fs.Int("workers", 0, "parallel workers (0: one per CPU)")
	multiHop := fs.Bool("check.multi-hop", false, "accept fallback paths longer than two clusters when each edge is configured (C4)")
	margin := fs.Duration("check.health-margin", 5*time.Second, "decisions this close to a health change are warnings, not violations (C6)")
	progress := fs.Bool("progress", true, "show progress on stderr when it is a terminal")
	if code, ok := cli.Parse(fs, args); !ok {
		return code
	}
	if !slices.Contains(replay.Formats, *format) {
		fmt.Fprintf(env.Stderr, "collector replay: --format must be text, json, html or markdown, not %q\n", *format)
		return cli.ExitUsage
	}
	if fs.NArg() == 0 {
		fmt.Fprintf(env.Stderr, "collector replay: no log file given\nUsage: %s\n", replayUsage)
		return cli.ExitUsage
	}
	opts := replay.Options{Workers: *workers, MaxLineBytes: *maxLine,
		Check: routing.CheckOptions{MultiHop: *multiHop, HealthMargin: *margin}}
	if len(routingPaths) > 0 {
		cfg, err := routing.Load(routingPaths...)
		if err != nil {
			fmt.Fprintf(env.Stderr, "collector replay: routing configuration:\n%v\n", err)
			return cli.ExitError
		}
		opts.Config = cfg
	}

	var inputs []replay.Input
	var total int64
	for _, name := range fs.Args() {
		if name == "-" {
			inputs = append(inputs, replay.Input{Name: "-", R: env.Stdin})
			continue
		}
		f, err := os.Open(name)
		if err != nil {
			fmt.Fprintf(env.Stderr, "collector replay: %v\n", err)
			return cli.ExitError
		}
		defer f.Close()
		if st, err := f.Stat(); err == nil {
			total += st.Size()
		}
		inputs = append(inputs, replay.Input{Name: name, R: f})
	}
	if *progress && total > 64<<20 {
		if f, ok := env.Stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			opts.Progress = progressBar(env.Stderr, total)
			defer fmt.Fprint(env.Stderr, "\r\033[K")
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rep, err := replay.Run(ctx, inputs, opts)
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(env.Stderr, "collector replay: %v\n", err)
	}
	werr := rep.WriteFile(*output, env.Stdout, *format)
	if werr != nil {
		fmt.Fprintf(env.Stderr, "collector replay: %v\n", werr)
	}
	switch {
	case err != nil || werr != nil:
		return cli.ExitError
	case rep.NoRecords():
		fmt.Fprintf(env.Stderr, "collector replay: no access-log record in the input; see the report's notes\n")
		return cli.ExitError
	case rep.ViolationsTotal > 0:
		return cli.ExitFindings
	}
	return cli.ExitOK
}

// progressBar returns a Progress callback drawing a one-line bar of bytes read against total.
func progressBar(w io.Writer, total int64) func(string, int64) {
	var done int64
	var last string
	var lastRead int64
	start := time.Now()
	return func(file string, read int64) {
		if file != last {
			done += lastRead
			last = file
		}
		lastRead = read
		cur := done + read
		frac := float64(cur) / float64(total)
		if frac > 1 {
			frac = 1
		}
		const width = 30
		n := int(frac * width)
		bar := make([]byte, width)
		for i := range bar {
			bar[i] = '.'
			if i < n {
				bar[i] = '='
			}
		}
		rate := float64(cur) / time.Since(start).Seconds() / (1 << 20)
		fmt.Fprintf(w, "\r[%s] %3.0f%% %.0f MiB/s %s", bar, frac*100, rate, file)
	}
}
