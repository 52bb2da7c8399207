// Package e2e proves the whole fallbackwatch chain as a user runs it: istio-proxy access logs are
// written in real time into a CRI log file (or a Kafka topic), `collector run` turns them into
// metrics, a real Prometheus scrapes the collectors every second and evaluates the rules alertgen
// generated for the Bookinfo routing configuration, a real Alertmanager delivers the alerts to a
// webhook the test serves, and every generated dashboard query is run against that Prometheus.
//
// The story is the fallback-routing guide's walk-through, compressed from minutes to seconds
// through alertgen's window and `for` flags (the generated files are never edited):
//
//  1. Sample 1 (100% to reviews v3, fallback v2), all healthy: no alert.
//  2. v3 scaled to zero: every request falls back to v2; FallbackSustained fires for v3, and v2,
//     now serving 130 rps of its 150 rps capacity, is over the 80% capacity threshold.
//  3. Sample 2 (50% v3→v2, 50% v2→v1), v3 and v2 down: half the requests fall back to v1, half
//     fail with 503 UH "fallback cluster is unhealthy"; FallbackFailed fires for v3.
//  4. Recovery: every alert resolves.
//
// The package has tests only. They need the prometheus and prometheus-alertmanager binaries
// (scripts/install-prometheus.sh installs them); without them the tests skip, or fail when CI=true.
package e2e
