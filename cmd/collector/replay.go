package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/fallbackwatch/fallbackwatch/internal/cli"
	"github.com/fallbackwatch/fallbackwatch/internal/replay"
	"github.com/fallbackwatch/fallbackwatch/routing"
	"golang.org/x/term"
)

type replayFlags struct {
	routing    cli.Strings
	load       *cli.Routing
	format     string
	output     string
	maxLine    int
	workers    int
	multiHop   bool
	margin     time.Duration
	progress   bool
	files      cli.Strings
	deprecated []*cli.Deprecated
}

func defineReplay(app *kingpin.Application, env cli.Env) func() int {
	f := &replayFlags{}
	c := app.Command("replay", "Read log files once and print a report of what fallback routing did.")
	c.Flag("routing", "VirtualService and DestinationRule YAML file or directory (repeatable); enables the routing checks.").
		PlaceHolder("PATH").SetValue(&f.routing)
	f.load = cli.RoutingFlags(c)
	c.Flag("format", "Report format: "+strings.Join(replay.Formats, ", ")+".").Default("text").EnumVar(&f.format, replay.Formats...)
	c.Flag("output", "Write the report to this file instead of standard output.").PlaceHolder("FILE").StringVar(&f.output)
	f.deprecated = inputFlags(c, nil, &f.maxLine)
	c.Flag("workers", "Parallel workers (0: one per CPU).").Default("0").IntVar(&f.workers)
	c.Flag("check.multi-hop", "Accept fallback paths longer than two clusters when each edge is configured (C4).").BoolVar(&f.multiHop)
	c.Flag("check.health-margin", "Decisions this close to a health change are warnings, not violations (C6).").Default("5s").DurationVar(&f.margin)
	c.Flag("progress", "Show progress on stderr when it is a terminal.").Default("true").BoolVar(&f.progress)
	c.Arg("files", "Log files; - reads standard input.").Required().PlaceHolder("FILE").SetValue(&f.files)
	return func() int { return runReplay(app, env, f) }
}

func runReplay(app *kingpin.Application, env cli.Env, f *replayFlags) int {
	var errs []error
	if f.maxLine <= 0 {
		errs = append(errs, fmt.Errorf("--input.max-line-bytes=%d: want a positive number of bytes", f.maxLine))
	}
	if f.workers < 0 {
		errs = append(errs, fmt.Errorf("--workers=%d: want 0 (one per CPU) or more", f.workers))
	}
	if f.margin < 0 {
		errs = append(errs, fmt.Errorf("--check.health-margin=%s: want 0 or a positive duration", f.margin))
	}
	if err := f.load.Validate(f.routing); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return cli.Usagef(app, "replay: %s", strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	for _, d := range f.deprecated {
		if d.Used() {
			fmt.Fprintf(env.Stderr, "collector replay: warning: %s\n", d.Warning())
		}
	}
	opts := replay.Options{Workers: f.workers, MaxLineBytes: f.maxLine,
		Check: routing.CheckOptions{MultiHop: f.multiHop, HealthMargin: f.margin}}
	if len(f.routing) > 0 || f.load.Kube() {
		cfg, err := f.load.Load(context.Background(), f.routing)
		if err != nil {
			fmt.Fprintf(env.Stderr, "collector replay: routing configuration:\n%v\n", err)
			return cli.ExitError
		}
		printNotes(env.Stderr, cfg)
		opts.Config = cfg
	}

	var inputs []replay.Input
	var total int64
	for _, name := range f.files {
		if name == "-" {
			inputs = append(inputs, replay.Input{Name: "-", R: env.Stdin})
			continue
		}
		file, err := os.Open(name)
		if err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			fmt.Fprintf(env.Stderr, "collector replay: cannot open %s: %v\n", cli.Quote(name, cli.MaxQuoted), err)
			return cli.ExitError
		}
		defer file.Close()
		if st, err := file.Stat(); err == nil {
			total += st.Size()
		}
		inputs = append(inputs, replay.Input{Name: name, R: file})
	}
	if f.progress && total > 64<<20 {
		if tty, ok := env.Stderr.(*os.File); ok && term.IsTerminal(int(tty.Fd())) {
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
	werr := rep.WriteFile(f.output, env.Stdout, f.format)
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
