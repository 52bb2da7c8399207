// Package parse reads istio-proxy access logs: it frames a byte stream into lines, unwraps the
// container runtime's envelope (raw JSON as printed by `kubectl logs`, CRI, docker json-file) and
// extracts from each Envoy JSON access-log record the fields fallbackwatch needs, including ASM's
// fallback_path, fallback_final_cluster_name and fallback_result.
//
// The package owns syntax only: what a record says. Whether a recorded routing decision is right
// is the business of package routing; counting is package aggregate.
//
// Values a Parser returns borrow from the input line and from the Parser's scratch buffer: they
// stay valid until the next call on the same Parser. Copy what you keep.
package parse
