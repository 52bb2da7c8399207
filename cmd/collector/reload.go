package main

import (
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/exporter-toolkit/web"

	"github.com/fallbackwatch/fallbackwatch/routing"
)

// reloader reloads, on SIGHUP, what `collector run` can change without a restart, and exports
// the outcome as Prometheus exports its own configuration reloads.
type reloader struct {
	routing   []string
	load      routing.LoadOptions
	webConfig string
	logger    *slog.Logger
	ok        prometheus.Gauge
	okTime    prometheus.Gauge
}

// newReloader registers fallbackwatch_config_last_reload_successful and
// fallbackwatch_config_last_reload_success_timestamp_seconds. The configuration loaded at start
// counts as the first successful reload.
func newReloader(routingPaths []string, load routing.LoadOptions, webConfig string, reg prometheus.Registerer, logger *slog.Logger) *reloader {
	r := &reloader{routing: routingPaths, load: load, webConfig: webConfig, logger: logger,
		ok: prometheus.NewGauge(prometheus.GaugeOpts{Name: "fallbackwatch_config_last_reload_successful",
			Help: "1 when the last configuration reload (at start or on SIGHUP) succeeded, 0 when it failed and the previous configuration is still in use."}),
		okTime: prometheus.NewGauge(prometheus.GaugeOpts{Name: "fallbackwatch_config_last_reload_success_timestamp_seconds",
			Help: "Unix time of the last successful configuration reload (at start or on SIGHUP)."}),
	}
	reg.MustRegister(r.ok, r.okTime)
	r.succeeded()
	return r
}

// loaded records whether a configuration read from the Kubernetes API loaded.
func (r *reloader) loaded(ok bool) {
	if ok {
		r.succeeded()
		return
	}
	r.ok.Set(0)
}

func (r *reloader) succeeded() {
	r.ok.Set(1)
	r.okTime.Set(float64(time.Now().UnixNano()) / 1e9)
}

// reload loads the routing configuration again and checks the web configuration file. It returns
// the new routing configuration, or nil when there is none or the reload failed: then the running
// configuration stays, and the failure is logged and exported.
func (r *reloader) reload() *routing.Config {
	var cfg *routing.Config
	failed := false
	if len(r.routing) > 0 {
		c, err := routing.LoadWith(r.load, r.routing...)
		if err != nil {
			failed = true
			r.logger.Error("reloading routing configuration failed; keeping the running configuration", "err", err)
		} else {
			logNotes(r.logger, c)
			cfg = c
		}
	}
	if r.webConfig != "" {
		if err := web.Validate(r.webConfig); err != nil {
			failed = true
			r.logger.Error("reloading web configuration failed; keeping the running configuration", "file", r.webConfig, "err", err)
		}
	}
	if failed {
		r.ok.Set(0)
		return nil
	}
	r.succeeded()
	switch {
	case cfg != nil:
		r.logger.Info("routing configuration reloaded", "virtual_services", len(cfg.VirtualServices), "web_config", r.webConfig != "")
	default:
		r.logger.Info("SIGHUP: configuration reloaded; no routing configuration to load (--routing not given)", "web_config", r.webConfig != "")
	}
	return cfg
}
