// Package parse reads istio-proxy access logs: it frames a byte stream into lines, unwraps the
// container runtime's envelope (raw JSON as printed by `kubectl logs`, CRI, docker json-file, or
// a JSON envelope such as Fluent Bit's Kafka messages) and extracts from each Envoy JSON
// access-log record the fields fallbackwatch needs, including ASM's fallback_path,
// fallback_final_cluster_name and fallback_result (rules R18–R23).
//
// The package owns syntax only: what a record says. Whether a recorded routing decision is right
// is the business of package routing; counting is package aggregate.
//
// # Pieces
//
//   - LineReader splits a stream into lines with one reusable buffer and a line-length cap
//     (DefaultMaxLine); over-long lines are skipped and reported, never fatal.
//   - Framer detects the format per stream (Format), unwraps CRI and docker lines, reassembles
//     partial lines per output stream up to the cap, and tells whether a partial line is held
//     (Pending) so a tailer knows which positions are safe checkpoints.
//   - Parser extracts a Record from one JSON object.
//   - Stream combines the three over an io.Reader.
//   - PodFromLogPath and WorkloadFromPod decode kubelet log paths and pod names.
//
// # Errors
//
// Every line that does not yield a record gives an *Error whose Reason is a label value of
// fallbackwatch_lines_skipped_total (Reason.Skipped: blank lines, Envoy's own log, JSON that is
// not an access log, and — Reason.FormatMismatch — access logs in Envoy's TEXT encoding or JSON
// printed over several lines) or fallbackwatch_lines_rejected_total (invalid JSON, truncated, too
// long, invalid UTF-8 in a field fallbackwatch reads, wrong type, broken cluster name or
// fallback_path, bad envelope, partial overflow). A bad line never stops a Stream and never
// affects the next record.
//
// Cluster names: every well-formed name is a record (SplitCluster): Istio's outbound and inbound
// names, the well-known clusters, ambient waypoints' inbound-vip|… and connect_originate, east-west
// gateways' outbound_.…, Envoy Gateway's httproute/… and any other printable name. Only a broken
// name is rejected. Record.Direction tells the side that wrote the record from its first cluster.
//
// # Invalid UTF-8
//
// Envoy writes request headers as they came, so a client can put any bytes in user_agent or in
// a header logged under an extra key. A record is rejected for invalid UTF-8 only when it is in a
// field fallbackwatch reads (the fallback fields, upstream_cluster, response_flags, route_name,
// authority, method, path, start_time, protocol). Anywhere else — user_agent, upstream_host,
// request_id, unknown keys and their nested values, keys themselves — each invalid byte is
// replaced by U+FFFD, the record is kept, and Record.InvalidUTF8Ignored says so (counted as
// fallbackwatch_records_invalid_utf8_ignored_total). A line that also holds U+FFFD of its own
// (raw or escaped) cannot be told apart and is rejected. Both decoding paths apply the policy;
// the fuzz test checks it against encoding/json as a second decoder of the fields read.
//
// # Speed and the two decoders
//
// Parser.Parse runs a hand-written single-pass scanner: it validates the whole object as
// strictly as encoding/json (structure, numbers, escapes, control characters; UTF-8 as above), compares
// keys against the key order of recent records before falling back to a lookup, skips unwanted
// values eight bytes at a time, and copies only strings that contain escapes. It allocates
// nothing per record once warm. Rare shapes (escaped keys, a wanted key with a value of the wrong
// type, nesting deeper than 64) go to sonic, the project's general JSON decoder, which also
// decodes docker and Fluent Bit envelopes and serves as the oracle of the differential fuzz test
// (FuzzParse). The general decoder classifies its failures with encoding/json, never with the
// scanner's validator. Duplicate keys take their last value on both paths, as in encoding/json.
//
// # Lifetime of returned values
//
// Values a Parser, Framer, LineReader or Stream returns borrow from the input line, from the
// Parser's scratch buffer or from the reader's buffer: they stay valid until the next call on
// the same object. Copy what you keep (string(b), Cluster.Owned); never use a borrowed slice as a
// map key.
package parse
