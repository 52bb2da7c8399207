package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
)

// alertEvent is one alert of one webhook notification.
type alertEvent struct {
	Phase  int // story phase current when it arrived
	Status string
	Labels map[string]string
	At     time.Time
}

func (e alertEvent) String() string {
	return fmt.Sprintf("phase %d %s %s", e.Phase, e.Status, labelString(e.Labels))
}

func labelString(l map[string]string) string {
	keys := make([]string, 0, len(l))
	for k := range l {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + strconv.Quote(l[k])
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// webhook is the receiver Alertmanager notifies: an httptest server on 127.0.0.1.
type webhook struct {
	srv    *httptest.Server
	phase  func() int
	mu     sync.Mutex
	events []alertEvent
	seen   map[string]bool // fingerprint, status and start of a notified state, to drop repeats
	errs   []string
}

// amPayload is the part of Alertmanager's webhook payload (version 4) the test reads.
type amPayload struct {
	Version string `json:"version"`
	Status  string `json:"status"`
	Alerts  []struct {
		Status      string            `json:"status"`
		Labels      map[string]string `json:"labels"`
		StartsAt    time.Time         `json:"startsAt"`
		Fingerprint string            `json:"fingerprint"`
	} `json:"alerts"`
}

func newWebhook(t *testing.T, phase func() int) *webhook {
	w := &webhook{phase: phase, seen: map[string]bool{}}
	w.srv = httptest.NewServer(http.HandlerFunc(w.serve)) // listens on 127.0.0.1
	t.Cleanup(w.srv.Close)
	return w
}

func (w *webhook) serve(rw http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(r.Body)
	var p amPayload
	if err == nil {
		err = json.Unmarshal(b, &p)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil || p.Version != "4" {
		w.errs = append(w.errs, fmt.Sprintf("webhook payload %q: version %q, %v", tail(string(b), 200), p.Version, err))
		http.Error(rw, "bad payload", http.StatusBadRequest)
		return
	}
	now, phase := time.Now(), w.phase()
	for _, a := range p.Alerts {
		key := a.Fingerprint + "/" + a.Status + "/" + a.StartsAt.String()
		if w.seen[key] {
			continue // the same state notified again (a retried delivery)
		}
		w.seen[key] = true
		w.events = append(w.events, alertEvent{Phase: phase, Status: a.Status, Labels: a.Labels, At: now})
	}
}

func (w *webhook) url() string { return w.srv.URL + "/alerts" }

// snapshot returns the events so far and any malformed deliveries.
func (w *webhook) snapshot() ([]alertEvent, []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]alertEvent(nil), w.events...), append([]string(nil), w.errs...)
}

// missing lists the wanted events (phase ignored) not received yet.
func (w *webhook) missing(want []alertEvent) []string {
	got, _ := w.snapshot()
	var out []string
	for _, e := range want {
		found := false
		for _, g := range got {
			if g.Status == e.Status && labelString(g.Labels) == labelString(e.Labels) {
				found = true
				break
			}
		}
		if !found {
			out = append(out, e.Status+" "+labelString(e.Labels))
		}
	}
	return out
}

// startAlertmanager runs Alertmanager without clustering on 127.0.0.1, routing every alert to
// its own group so each state change is one notification, delivered to hook at once.
func startAlertmanager(t *testing.T, bin string, hook *webhook) *proc {
	t.Helper()
	dir := t.TempDir()
	cfg := fmt.Sprintf(`route:
  receiver: webhook
  group_by: ['...']
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 24h
receivers:
  - name: webhook
    webhook_configs:
      - url: %q
        send_resolved: true
`, hook.url())
	path := filepath.Join(dir, "alertmanager.yml")
	require.NoError(t, os.WriteFile(path, []byte(cfg), 0o644))
	addr := freeAddr(t)
	p := startProc(t, "alertmanager", addr, bin, "--config.file="+path, "--storage.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--cluster.listen-address=", "--log.level=info")
	p.waitHTTP(t, "/-/ready", 30*time.Second)
	return p
}

// startPrometheus runs Prometheus on 127.0.0.1 with a temporary storage directory, scraping the
// collectors every second, evaluating rulesFile every second and alerting to am.
func startPrometheus(t *testing.T, bin, rulesFile string, am *proc, collectors []*proc) *prom {
	t.Helper()
	dir := t.TempDir()
	targets := make([]string, len(collectors))
	for i, c := range collectors {
		targets[i] = strconv.Quote(c.addr)
	}
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - %q
alerting:
  alertmanagers:
    - static_configs:
        - targets: [%q]
scrape_configs:
  - job_name: fallbackwatch
    static_configs:
      - targets: [%s]
`, rulesFile, am.addr, strings.Join(targets, ", "))
	path := filepath.Join(dir, "prometheus.yml")
	require.NoError(t, os.WriteFile(path, []byte(cfg), 0o644))
	addr := freeAddr(t)
	p := startProc(t, "prometheus", addr, bin, "--config.file="+path, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=info")
	p.waitHTTP(t, "/-/ready", 60*time.Second)
	return &prom{proc: p}
}

// prom talks to Prometheus' HTTP API.
type prom struct{ *proc }

type apiResponse struct {
	Status    string          `json:"status"`
	Data      json.RawMessage `json:"data"`
	ErrorType string          `json:"errorType"`
	Error     string          `json:"error"`
}

func (p *prom) api(path string, params url.Values, into any) error {
	resp, err := httpClient.PostForm("http://"+p.addr+path, params)
	if err != nil {
		return fmt.Errorf("prometheus %s: %w", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("prometheus %s: %w", path, err)
	}
	var r apiResponse
	if err := json.Unmarshal(b, &r); err != nil {
		return fmt.Errorf("prometheus %s: %q: %w", path, tail(string(b), 300), err)
	}
	if r.Status != "success" {
		return fmt.Errorf("prometheus %s %v: %s: %s", path, params, r.ErrorType, r.Error)
	}
	return json.Unmarshal(r.Data, into)
}

type queryData struct {
	ResultType string          `json:"resultType"`
	Result     json.RawMessage `json:"result"`
}

// query evaluates expr at t (zero: now) and returns the vector; a scalar becomes one sample.
func (p *prom) query(expr string, at time.Time) (model.Vector, error) {
	params := url.Values{"query": {expr}}
	if !at.IsZero() {
		params.Set("time", strconv.FormatFloat(float64(at.UnixMilli())/1000, 'f', 3, 64))
	}
	var d queryData
	if err := p.api("/api/v1/query", params, &d); err != nil {
		return nil, err
	}
	switch d.ResultType {
	case "vector":
		var v model.Vector
		return v, json.Unmarshal(d.Result, &v)
	case "scalar":
		var s model.Scalar
		if err := json.Unmarshal(d.Result, &s); err != nil {
			return nil, err
		}
		return model.Vector{{Metric: model.Metric{}, Value: s.Value, Timestamp: s.Timestamp}}, nil
	}
	return nil, fmt.Errorf("query %q: result type %q", expr, d.ResultType)
}

// queryRange evaluates expr from start to end every step.
func (p *prom) queryRange(expr string, start, end time.Time, step time.Duration) (model.Matrix, error) {
	var d queryData
	err := p.api("/api/v1/query_range", url.Values{"query": {expr},
		"start": {strconv.FormatInt(start.Unix(), 10)}, "end": {strconv.FormatInt(end.Unix()+1, 10)},
		"step": {strconv.FormatFloat(step.Seconds(), 'f', -1, 64)}}, &d)
	if err != nil {
		return nil, err
	}
	if d.ResultType != "matrix" {
		return nil, fmt.Errorf("range query %q: result type %q", expr, d.ResultType)
	}
	var m model.Matrix
	return m, json.Unmarshal(d.Result, &m)
}

// series lists the label sets of the series matching match between start and end.
func (p *prom) series(match string, start, end time.Time) ([]model.LabelSet, error) {
	var out []model.LabelSet
	err := p.api("/api/v1/series", url.Values{"match[]": {match},
		"start": {strconv.FormatInt(start.Unix(), 10)}, "end": {strconv.FormatInt(end.Unix()+1, 10)}}, &out)
	return out, err
}

// value evaluates expr now and returns its one sample's value; ok is false when the result is
// empty. More than one sample is an error.
func (p *prom) value(expr string) (float64, bool, error) {
	v, err := p.query(expr, time.Time{})
	if err != nil || len(v) == 0 {
		return 0, false, err
	}
	if len(v) > 1 {
		return 0, false, fmt.Errorf("query %q: %d samples, want one", expr, len(v))
	}
	return float64(v[0].Value), true, nil
}

// byLabel evaluates expr now and returns its samples keyed by one label's value.
func (p *prom) byLabel(expr, label string) (map[string]float64, error) {
	v, err := p.query(expr, time.Time{})
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, s := range v {
		out[string(s.Metric[model.LabelName(label)])] = float64(s.Value)
	}
	return out, nil
}

// activeAlerts lists the alerts Prometheus holds pending or firing.
func (p *prom) activeAlerts() ([]string, error) {
	var d struct {
		Alerts []struct {
			Labels map[string]string `json:"labels"`
			State  string            `json:"state"`
		} `json:"alerts"`
	}
	resp, err := httpClient.Get("http://" + p.addr + "/api/v1/alerts")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var r apiResponse
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(r.Data, &d); err != nil {
		return nil, err
	}
	var out []string
	for _, a := range d.Alerts {
		out = append(out, a.State+" "+labelString(a.Labels))
	}
	return out, nil
}
