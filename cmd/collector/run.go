package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"

	"github.com/fallbackwatch/fallbackwatch/aggregate"
	"github.com/fallbackwatch/fallbackwatch/internal/cli"
	"github.com/fallbackwatch/fallbackwatch/internal/kafkasrc"
	"github.com/fallbackwatch/fallbackwatch/internal/pipeline"
	"github.com/fallbackwatch/fallbackwatch/internal/tail"
	"github.com/fallbackwatch/fallbackwatch/kubesource"
	"github.com/fallbackwatch/fallbackwatch/parse"
	"github.com/fallbackwatch/fallbackwatch/routing"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/segmentio/kafka-go"
	"golang.org/x/sync/errgroup"
)

// defaultPattern is where a DaemonSet finds the istio-proxy container logs of its node.
const defaultPattern = "/var/log/containers/*_istio-proxy-*.log"

// defaultListen is the address metrics, /healthz and /readyz are served on.
const defaultListen = ":9464"

type runFlags struct {
	routing       cli.Strings
	load          *cli.Routing
	web           *web.FlagConfig
	telemetryPath string
	stateFile     string
	startAtEnd    bool
	pollInterval  time.Duration
	rescan        time.Duration
	checkpoint    time.Duration
	checkpointB   int64
	format        string
	maxLine       int
	maxSeries     int
	seriesTTL     time.Duration
	brokers       string
	topic         string
	group         string
	envelopeField string
	kafkaStart    string
	kafkaCommit   time.Duration
	kafkaSession  time.Duration
	kafkaBeat     time.Duration
	logLevel      string
	logFormat     string
	multiHop      bool
	healthMargin  time.Duration
	pprof         bool
	sources       cli.Strings
	deprecated    []*cli.Deprecated
}

// Input flags renamed so that --log.* is only the collector's own logging; the old names still
// work for one release and log a warning.
var (
	deprecatedFormat  = cli.Deprecated{Old: "log.input-format", New: "input.format"}
	deprecatedMaxLine = cli.Deprecated{Old: "max-line-bytes", New: "input.max-line-bytes"}
)

// inputFlags defines --input.format (when format is not nil) and --input.max-line-bytes with
// their deprecated old names, and returns those old names.
func inputFlags(c *kingpin.CmdClause, format *string, maxLine *int) []*cli.Deprecated {
	var dep []*cli.Deprecated
	if format != nil {
		c.Flag("input.format", "Framing of the log lines: auto, raw, cri or docker.").Default("auto").StringVar(format)
		d := deprecatedFormat
		d.Alias(c).StringVar(format)
		dep = append(dep, &d)
	}
	c.Flag("input.max-line-bytes", "Longest line accepted; longer lines are skipped and counted.").
		Default(strconv.Itoa(parse.DefaultMaxLine)).IntVar(maxLine)
	d := deprecatedMaxLine
	d.Alias(c).IntVar(maxLine)
	return append(dep, &d)
}

func defineRun(app *kingpin.Application, env cli.Env) func() int {
	f := &runFlags{}
	c := app.Command("run", "Follow log files, standard input and Kafka and export Prometheus metrics.")
	c.Flag("routing", "VirtualService and DestinationRule YAML file or directory (repeatable); enables checks and the route label; reloaded on SIGHUP.").
		PlaceHolder("PATH").SetValue(&f.routing)
	f.load = cli.RoutingFlags(c)
	f.web = kingpinflag.AddFlags(c, defaultListen)
	c.Flag("web.telemetry-path", "Path under which to expose metrics.").Default("/metrics").StringVar(&f.telemetryPath)
	c.Flag("web.enable-pprof", "Serve Go profiling endpoints under /debug/pprof/.").BoolVar(&f.pprof)
	c.Flag("tail.state-file", "File keeping read positions across restarts (empty: none).").StringVar(&f.stateFile)
	c.Flag("tail.start-at-end", "At the very first start (no state file yet), begin files that exist at their end; files appearing later are always read from their start.").BoolVar(&f.startAtEnd)
	c.Flag("tail.poll-interval", "How often open files are read.").Default(tail.DefaultPollInterval.String()).DurationVar(&f.pollInterval)
	c.Flag("tail.rescan-interval", "How often globs are expanded again.").Default(tail.DefaultRescanInterval.String()).DurationVar(&f.rescan)
	c.Flag("tail.checkpoint-interval", "How often positions are saved (also at shutdown).").Default(tail.DefaultCheckpointInterval.String()).DurationVar(&f.checkpoint)
	c.Flag("tail.checkpoint-bytes", "Save positions also whenever this many bytes were read since the last save: what a crash reads twice is bounded by size, not speed.").
		Default(strconv.FormatInt(tail.DefaultCheckpointBytes, 10)).Int64Var(&f.checkpointB)
	f.deprecated = inputFlags(c, &f.format, &f.maxLine)
	c.Flag("metrics.max-series", "Series per metric before label sets fold into the __overflow__ series.").Default(strconv.Itoa(aggregate.DefaultMaxSeries)).IntVar(&f.maxSeries)
	c.Flag("metrics.series-ttl", "Drop series no record touched for this long (0: never).").Default("0s").DurationVar(&f.seriesTTL)
	c.Flag("kafka.brokers", "Comma-separated Kafka brokers; enables the Kafka source.").StringVar(&f.brokers)
	c.Flag("kafka.topic", "Kafka topic holding istio-proxy access logs.").StringVar(&f.topic)
	c.Flag("kafka.group", "Kafka consumer group.").Default("fallbackwatch").StringVar(&f.group)
	c.Flag("kafka.envelope-field", "When messages are JSON envelopes (e.g. Fluent Bit's), the field holding the log line.").StringVar(&f.envelopeField)
	c.Flag("kafka.start", "Where a group with no committed offset starts: first or last.").Default("first").StringVar(&f.kafkaStart)
	c.Flag("kafka.commit-interval", "How often counted offsets are committed (also on rebalance and shutdown).").Default(kafkasrc.DefaultCommitInterval.String()).DurationVar(&f.kafkaCommit)
	c.Flag("kafka.session-timeout", "Consumer group session timeout; also the rebalance timeout.").Default(kafkasrc.DefaultSessionTimeout.String()).DurationVar(&f.kafkaSession)
	c.Flag("kafka.heartbeat-interval", "Consumer group heartbeat interval.").Default(kafkasrc.DefaultHeartbeatInterval.String()).DurationVar(&f.kafkaBeat)
	c.Flag("log.level", "The collector's own log level: debug, info, warn or error.").Default("info").StringVar(&f.logLevel)
	c.Flag("log.format", "The collector's own log format: logfmt or json.").Default("logfmt").StringVar(&f.logFormat)
	c.Flag("check.multi-hop", "Accept fallback paths longer than two clusters when each edge is configured (C4).").BoolVar(&f.multiHop)
	c.Flag("check.health-margin", "Decisions this close to a health change are warnings (C6).").Default("5s").DurationVar(&f.healthMargin)
	c.Arg("sources", "Log files or globs to follow; - reads standard input (none: "+defaultPattern+").").
		PlaceHolder("PATH_OR_GLOB|-").SetValue(&f.sources)
	return func() int { return runRun(app, env, f) }
}

// validate checks every value before anything starts; its errors are usage errors.
func (f *runFlags) validate() error {
	var errs []error
	if err := f.load.Validate(f.routing); err != nil {
		errs = append(errs, err)
	}
	positive := []struct {
		name string
		v    time.Duration
	}{
		{"tail.poll-interval", f.pollInterval},
		{"tail.rescan-interval", f.rescan},
		{"tail.checkpoint-interval", f.checkpoint},
		{"kafka.commit-interval", f.kafkaCommit},
		{"kafka.session-timeout", f.kafkaSession},
		{"kafka.heartbeat-interval", f.kafkaBeat},
	}
	for _, d := range positive {
		if d.v <= 0 {
			errs = append(errs, fmt.Errorf("--%s=%s: want a positive duration", d.name, d.v))
		}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"metrics.series-ttl", f.seriesTTL}, {"check.health-margin", f.healthMargin}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("--%s=%s: want 0 or a positive duration", d.name, d.v))
		}
	}
	if f.kafkaBeat > 0 && f.kafkaSession > 0 && f.kafkaBeat >= f.kafkaSession {
		errs = append(errs, fmt.Errorf("--kafka.heartbeat-interval=%s: want less than --kafka.session-timeout=%s", f.kafkaBeat, f.kafkaSession))
	}
	if f.maxLine <= 0 {
		errs = append(errs, fmt.Errorf("--input.max-line-bytes=%d: want a positive number of bytes", f.maxLine))
	}
	if f.checkpointB <= 0 {
		errs = append(errs, fmt.Errorf("--tail.checkpoint-bytes=%d: want a positive number of bytes", f.checkpointB))
	}
	if f.maxSeries <= 0 {
		errs = append(errs, fmt.Errorf("--metrics.max-series=%d: want a positive number of series", f.maxSeries))
	}
	if _, err := parse.ParseFormat(f.format); err != nil {
		errs = append(errs, fmt.Errorf("--input.format: %w", err))
	}
	if f.kafkaStart != "first" && f.kafkaStart != "last" {
		errs = append(errs, fmt.Errorf("--kafka.start %q: want first or last", f.kafkaStart))
	}
	if (f.brokers == "") != (f.topic == "") {
		errs = append(errs, errors.New("--kafka.brokers and --kafka.topic go together"))
	}
	if !strings.HasPrefix(f.telemetryPath, "/") {
		errs = append(errs, fmt.Errorf("--web.telemetry-path %q: want a path starting with /", f.telemetryPath))
	}
	return errors.Join(errs...)
}

func runRun(app *kingpin.Application, env cli.Env, f *runFlags) int {
	// SIGHUP is caught from the start, whatever the flags: it reloads, it never ends the collector.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	logger, err := newLogger(env.Stderr, f.logLevel, f.logFormat)
	if err != nil {
		return cli.Usagef(app, "run: %v", err)
	}
	if err := f.validate(); err != nil {
		return cli.Usagef(app, "run: %s", strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	for _, d := range f.deprecated {
		if d.Used() {
			logger.Warn(d.Warning())
		}
	}
	format, _ := parse.ParseFormat(f.format)
	if *f.web.WebConfigFile != "" {
		if err := web.Validate(*f.web.WebConfigFile); err != nil {
			logger.Error("collector not started: web configuration", "file", *f.web.WebConfigFile, "err", err)
			return cli.ExitError
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := serve(ctx, env, f, format, f.sources, hup, logger); err != nil {
		logger.Error("collector stopped", "err", err)
		return cli.ExitError
	}
	return cli.ExitOK
}

// maxLogValue is the most bytes of one value the collector logs.
const maxLogValue = 4 * cli.MaxQuoted

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log.level %q: want debug, info, warn or error", level)
	}
	// Values logged may come from the input (paths, authorities, rejected lines): each is cut to
	// MaxLogValue bytes, and the handlers quote or escape control bytes.
	opts := &slog.HandlerOptions{Level: lv, ReplaceAttr: cli.CapAttr(maxLogValue)}
	switch format {
	case "logfmt":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log.format %q: want logfmt or json", format)
}

// serve runs the sources and the web server until ctx ends, then shuts everything down in order:
// sources stop reading and save positions or commit offsets, then the server stops.
func serve(ctx context.Context, env cli.Env, f *runFlags, format parse.Format, sources []string, hup <-chan os.Signal, logger *slog.Logger) error {
	var routingCfg *routing.Config
	if len(f.routing) > 0 {
		cfg, err := routing.LoadWith(f.load.LoadOptions, f.routing...)
		if err != nil {
			return fmt.Errorf("routing configuration: %w", err)
		}
		logNotes(logger, cfg)
		routingCfg = cfg
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), cli.BuildInfo())
	rl := newReloader(f.routing, f.load.LoadOptions, *f.web.WebConfigFile, reg, logger)

	counters, err := aggregate.NewCounters(aggregate.Config{MaxSeries: f.maxSeries, SeriesTTL: f.seriesTTL})
	if err != nil {
		return err
	}
	pl, err := pipeline.New(pipeline.Config{Counters: counters, Routing: routingCfg, Format: format,
		Check:         routing.CheckOptions{MultiHop: f.multiHop, HealthMargin: f.healthMargin},
		EnvelopeField: f.envelopeField, MaxLineBytes: f.maxLine, Registerer: reg, Logger: logger})
	if err != nil {
		return err
	}

	var patterns []string
	useStdin := false
	for _, s := range sources {
		if s == "-" {
			useStdin = true
		} else {
			patterns = append(patterns, s)
		}
	}
	if len(patterns) == 0 && !useStdin && f.brokers == "" {
		patterns = []string{defaultPattern}
	}

	// TCP addresses are listened on here, so that a busy port fails the start and the log names the
	// bound address; systemd sockets and vsock:// addresses are left to exporter-toolkit.
	toolkitListens := *f.web.WebSystemdSocket || slices.ContainsFunc(*f.web.WebListenAddresses,
		func(a string) bool { return strings.HasPrefix(a, "vsock://") })
	var listeners []net.Listener
	if !toolkitListens {
		for _, addr := range *f.web.WebListenAddresses {
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return fmt.Errorf("listening on %s: %w", addr, err)
			}
			defer ln.Close()
			listeners = append(listeners, ln)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var readiness []func() bool
	g, gctx := errgroup.WithContext(ctx)
	if len(patterns) > 0 {
		t, err := tail.New(tail.Config{Patterns: patterns, StateFile: f.stateFile, PollInterval: f.pollInterval,
			RescanInterval: f.rescan, CheckpointInterval: f.checkpoint, CheckpointBytes: f.checkpointB, StartAtEnd: f.startAtEnd,
			MaxLineBytes: f.maxLine, Logger: logger, Registerer: reg}, &fileHandler{p: pl, streams: map[string]*pipeline.Stream{}})
		if err != nil {
			return err
		}
		readiness = append(readiness, t.Ready)
		g.Go(func() error {
			pl.SetReady(pipeline.SourceFile, true)
			defer pl.SetReady(pipeline.SourceFile, false)
			return t.Run(gctx)
		})
	}
	if useStdin {
		var open atomic.Bool
		open.Store(true)
		readiness = append(readiness, open.Load)
		pl.SetReady(pipeline.SourceStdin, true)
		// A read from standard input cannot be interrupted: the reader runs on its own and, when
		// shutdown comes while it waits for input, is left blocked until the process exits.
		ended := make(chan error, 1)
		go func() { ended <- readStdin(gctx, env.Stdin, pl, f.maxLine) }()
		g.Go(func() error {
			select {
			case err := <-ended:
				logger.Info("standard input ended; metrics stay served until shutdown", "err", err)
				<-gctx.Done()
			case <-gctx.Done():
			}
			return nil
		})
	}
	if f.brokers != "" {
		start := kafka.FirstOffset
		if f.kafkaStart == "last" {
			start = kafka.LastOffset
		}
		kh := newKafkaHandler(pl, f.maxLine, f.envelopeField)
		c, err := kafkasrc.NewPartitioned(kafkasrc.Config{Brokers: strings.Split(f.brokers, ","), Topic: f.topic, Group: f.group,
			StartOffset: start, CommitInterval: f.kafkaCommit,
			SessionTimeout: f.kafkaSession, RebalanceTimeout: f.kafkaSession, HeartbeatInterval: f.kafkaBeat, Logger: logger, Registerer: reg,
			Ready: func(v bool) { pl.SetReady(pipeline.SourceKafka, v) }}, kh.partition)
		if err != nil {
			return err
		}
		readiness = append(readiness, c.Ready)
		g.Go(func() error { return c.Run(gctx) })
	}

	// Routing from the Kubernetes API: every valid change is put in use as it comes; readiness
	// waits for the first configuration.
	if f.load.Kube() {
		opts := f.load.KubeOptions()
		opts.Logger, opts.Registerer, opts.Loaded = logger, reg, rl.loaded
		src, err := kubesource.New(opts)
		if err != nil {
			return fmt.Errorf("routing from the Kubernetes API: %w", err)
		}
		readiness = append(readiness, src.Synced)
		g.Go(func() error { return src.Run(gctx, pl.SetRouting) })
	}

	// SIGHUP reloads what can be reloaded: the routing configuration, and the web configuration
	// (read again at every connection; checked here so that a broken file shows in the metrics).
	g.Go(func() error {
		for {
			select {
			case <-gctx.Done():
				return nil
			case <-hup:
				if cfg := rl.reload(); cfg != nil {
					pl.SetRouting(cfg)
				}
			}
		}
	})

	mux := http.NewServeMux()
	mux.Handle(f.telemetryPath, promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg, EnableOpenMetrics: true}))
	if f.pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		for _, ready := range readiness {
			if !ready() {
				http.Error(w, "not ready: sources are still opening or a broker is unreachable", http.StatusServiceUnavailable)
				return
			}
		}
		fmt.Fprintln(w, "ready")
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	addrs := make([]string, len(listeners))
	for i, ln := range listeners {
		addrs[i] = ln.Addr().String()
	}
	logger.Info("collector started", "listen", strings.Join(addrs, ","), "files", patterns, "stdin", useStdin,
		"kafka", f.brokers != "", "routing", len(f.routing) > 0, "routing_kubernetes", f.load.Kube(), "web_config", *f.web.WebConfigFile != "")
	srvErr := make(chan error, 1)
	go func() {
		if toolkitListens {
			srvErr <- web.ListenAndServe(srv, f.web, logger)
			return
		}
		srvErr <- web.ServeMultiple(listeners, srv, f.web, logger)
	}()

	var runErr error
	select {
	case runErr = <-waitGroup(g):
	case err := <-srvErr:
		runErr = fmt.Errorf("web server: %w", err)
		cancel()
		_ = g.Wait()
	}
	// Sources have stopped: positions are saved and offsets committed. Stop the server.
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdownCtx)
	if runErr != nil && !errors.Is(runErr, context.Canceled) {
		return runErr
	}
	logger.Info("collector stopped cleanly")
	return nil
}

func waitGroup(g *errgroup.Group) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- g.Wait() }()
	return ch
}

// readStdin feeds standard input to one stream until it ends or ctx is done.
func readStdin(ctx context.Context, r io.Reader, pl *pipeline.Pipeline, maxLine int) error {
	st := pl.NewStream(pipeline.SourceStdin, aggregate.Source{})
	lr := parse.NewLineReader(r, maxLine)
	for ctx.Err() == nil {
		line, err := lr.Next()
		if err == io.EOF {
			return nil
		}
		var pe *parse.Error
		if errors.As(err, &pe) && pe.Reason == parse.RejectTooLong {
			st.TooLong()
			continue
		}
		if err != nil {
			return err
		}
		st.Line(line)
	}
	return ctx.Err()
}

// fileHandler gives each followed file its own stream. The tailer calls it from one goroutine.
type fileHandler struct {
	p       *pipeline.Pipeline
	streams map[string]*pipeline.Stream
}

func (h *fileHandler) Open(path string) tail.LineFunc {
	var src aggregate.Source
	if ns, pod, _, err := parse.PodFromLogPath(path); err == nil {
		src = aggregate.Source{Namespace: ns, Workload: parse.WorkloadFromPod(pod)}
	}
	st := h.p.NewStream(pipeline.SourceFile, src)
	h.streams[path] = st
	return func(data []byte, _ int64) bool { return st.Line(data) }
}

func (h *fileHandler) TooLong(path string, _ int64, _ int) {
	if st := h.streams[path]; st != nil {
		st.TooLong()
	}
}

func (h *fileHandler) Close(path string) { delete(h.streams, path) }
