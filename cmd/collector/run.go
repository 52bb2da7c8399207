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
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fallbackwatch/fallbackwatch/aggregate"
	"github.com/fallbackwatch/fallbackwatch/internal/cli"
	"github.com/fallbackwatch/fallbackwatch/internal/kafkasrc"
	"github.com/fallbackwatch/fallbackwatch/internal/pipeline"
	"github.com/fallbackwatch/fallbackwatch/internal/tail"
	"github.com/fallbackwatch/fallbackwatch/parse"
	"github.com/fallbackwatch/fallbackwatch/routing"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/segmentio/kafka-go"
	"golang.org/x/sync/errgroup"
)

const runUsage = "collector run [flags] [PATH_OR_GLOB|-]...  (no source: " + defaultPattern + ")"

// defaultPattern is where a DaemonSet finds the istio-proxy container logs of its node.
const defaultPattern = "/var/log/containers/*_istio-proxy-*.log"

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

type runFlags struct {
	routing       cli.Strings
	listen        string
	telemetryPath string
	stateFile     string
	startAtEnd    bool
	pollInterval  time.Duration
	rescan        time.Duration
	checkpoint    time.Duration
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
}

func runRun(env cli.Env, args []string) int {
	var f runFlags
	fs := cli.NewFlagSet("run", runUsage, env.Stderr)
	fs.Var(&f.routing, "routing", "VirtualService and DestinationRule YAML file or directory (repeatable); enables checks and the route label; reloaded on SIGHUP")
	fs.StringVar(&f.listen, "web.listen-address", ":9464", "address to serve metrics, /healthz and /readyz on")
	fs.StringVar(&f.telemetryPath, "web.telemetry-path", "/metrics", "path under which to expose metrics")
	fs.BoolVar(&f.pprof, "web.enable-pprof", false, "serve Go profiling endpoints under /debug/pprof/")
	fs.StringVar(&f.stateFile, "tail.state-file", "", "file keeping read positions across restarts (empty: none)")
	fs.BoolVar(&f.startAtEnd, "tail.start-at-end", false, "at the very first start (no state file yet), begin files that exist at their end; files appearing later are always read from their start")
	fs.DurationVar(&f.pollInterval, "tail.poll-interval", tail.DefaultPollInterval, "how often open files are read")
	fs.DurationVar(&f.rescan, "tail.rescan-interval", tail.DefaultRescanInterval, "how often globs are expanded again")
	fs.DurationVar(&f.checkpoint, "tail.checkpoint-interval", tail.DefaultCheckpointInterval, "how often positions are saved (also at shutdown)")
	fs.StringVar(&f.format, "log.input-format", "auto", "framing of the log lines: auto, raw, cri or docker")
	fs.IntVar(&f.maxLine, "max-line-bytes", parse.DefaultMaxLine, "longest line accepted; longer lines are skipped and counted")
	fs.IntVar(&f.maxSeries, "metrics.max-series", aggregate.DefaultMaxSeries, "series per metric before label sets fold into the __overflow__ series")
	fs.DurationVar(&f.seriesTTL, "metrics.series-ttl", 0, "drop series no record touched for this long (0: never)")
	fs.StringVar(&f.brokers, "kafka.brokers", "", "comma-separated Kafka brokers; enables the Kafka source")
	fs.StringVar(&f.topic, "kafka.topic", "", "Kafka topic holding istio-proxy access logs")
	fs.StringVar(&f.group, "kafka.group", "fallbackwatch", "Kafka consumer group")
	fs.StringVar(&f.envelopeField, "kafka.envelope-field", "", "when messages are JSON envelopes (e.g. Fluent Bit's), the field holding the log line")
	fs.StringVar(&f.kafkaStart, "kafka.start", "first", "where a group with no committed offset starts: first or last")
	fs.DurationVar(&f.kafkaCommit, "kafka.commit-interval", kafkasrc.DefaultCommitInterval, "how often counted offsets are committed (also on rebalance and shutdown)")
	fs.DurationVar(&f.kafkaSession, "kafka.session-timeout", kafkasrc.DefaultSessionTimeout, "consumer group session timeout; also the rebalance timeout")
	fs.DurationVar(&f.kafkaBeat, "kafka.heartbeat-interval", kafkasrc.DefaultHeartbeatInterval, "consumer group heartbeat interval")
	fs.StringVar(&f.logLevel, "log.level", "info", "debug, info, warn or error")
	fs.StringVar(&f.logFormat, "log.format", "logfmt", "logfmt or json")
	fs.BoolVar(&f.multiHop, "check.multi-hop", false, "accept fallback paths longer than two clusters when each edge is configured (C4)")
	fs.DurationVar(&f.healthMargin, "check.health-margin", 5*time.Second, "decisions this close to a health change are warnings (C6)")
	if code, ok := cli.Parse(fs, args); !ok {
		return code
	}
	logger, err := newLogger(env.Stderr, f.logLevel, f.logFormat)
	if err != nil {
		fmt.Fprintf(env.Stderr, "collector run: %v\n", err)
		return cli.ExitUsage
	}
	format, err := parse.ParseFormat(f.format)
	if err != nil {
		fmt.Fprintf(env.Stderr, "collector run: --log.input-format: %v\n", err)
		return cli.ExitUsage
	}
	if f.kafkaStart != "first" && f.kafkaStart != "last" {
		fmt.Fprintf(env.Stderr, "collector run: --kafka.start %q: want first or last\n", f.kafkaStart)
		return cli.ExitUsage
	}
	if (f.brokers == "") != (f.topic == "") {
		fmt.Fprintln(env.Stderr, "collector run: --kafka.brokers and --kafka.topic go together")
		return cli.ExitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := serve(ctx, env, &f, format, fs.Args(), logger); err != nil {
		logger.Error("collector stopped", "err", err)
		return cli.ExitError
	}
	return cli.ExitOK
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log.level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
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
func serve(ctx context.Context, env cli.Env, f *runFlags, format parse.Format, sources []string, logger *slog.Logger) error {
	var routingCfg *routing.Config
	if len(f.routing) > 0 {
		cfg, err := routing.Load(f.routing...)
		if err != nil {
			return fmt.Errorf("routing configuration: %w", err)
		}
		routingCfg = cfg
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "fallbackwatch_build_info",
		Help: "Always 1; labels name the build."}, []string{"version", "goversion"})
	buildInfo.WithLabelValues(version, runtime.Version()).Set(1)
	reg.MustRegister(buildInfo)

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

	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", f.listen, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var readiness []func() bool
	g, gctx := errgroup.WithContext(ctx)
	if len(patterns) > 0 {
		t, err := tail.New(tail.Config{Patterns: patterns, StateFile: f.stateFile, PollInterval: f.pollInterval,
			RescanInterval: f.rescan, CheckpointInterval: f.checkpoint, StartAtEnd: f.startAtEnd,
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

	// SIGHUP reloads the routing configuration; a configuration that does not load is logged and
	// the previous one kept.
	if len(f.routing) > 0 {
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		g.Go(func() error {
			defer signal.Stop(hup)
			for {
				select {
				case <-gctx.Done():
					return nil
				case <-hup:
					cfg, err := routing.Load(f.routing...)
					if err != nil {
						logger.Error("reloading routing configuration failed; keeping the previous one", "err", err)
						continue
					}
					pl.SetRouting(cfg)
					logger.Info("routing configuration reloaded", "virtual_services", len(cfg.VirtualServices))
				}
			}
		})
	}

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
	logger.Info("collector started", "listen", ln.Addr().String(), "files", patterns, "stdin", useStdin,
		"kafka", f.brokers != "", "routing", len(f.routing) > 0)
	srvErr := make(chan error, 1)
	go func() { srvErr <- srv.Serve(ln) }()

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
