// Package routing is fallbackwatch's reference model of Alibaba Service Mesh (ASM) fallback
// routing: it loads Istio VirtualServices (with ASM's fallback on HTTP route destinations) and
// DestinationRules, lints them, decides what a sidecar does with a request, checks recorded
// access-log decisions against the configuration, and simulates outages. Rule numbers (R1–R17,
// C1–C7) refer to docs/fallback-semantics.md.
//
// The package owns semantics only: reading log lines is package parse; counting is package
// aggregate; flags and output formats live in cmd/collector.
//
// # Loading
//
// Load reads files and directories (*.yaml, *.yml, *.json, in lexical order), multi-document
// streams and `kind: List` (as printed by `kubectl get vs,dr -A -o yaml`), networking.istio.io
// v1alpha3, v1beta1 and v1, with YAML anchors and merge keys (<<). Other kinds are skipped and
// listed in Config.Ignored, and so are documents that are not Kubernetes objects at all (no
// kind: a Helm Chart.yaml or values.yaml, package.json, an OpenAPI file), so a folder can be
// given as people keep it. A path set without any VirtualService or DestinationRule is an
// error. The same kind/namespace/name defined twice is one object: the later definition in load
// order wins, as `kubectl apply -f DIR` applies files in lexical order, and Config.Notes says
// where both were. Decoding is strict: an unknown field is an error. Parts fallbackwatch does not model (trafficPolicy, rewrite, fault,
// mirror, corsPolicy, header manipulation, labels) are accepted without looking inside. Every
// problem is reported at once as a *LoadErrors whose entries carry file, line, column, resource
// and the path inside it. Semantic problems (R5, R6, R3, ambiguous fallbacks) are not load errors
// but Lint findings of severity error, so a configuration can be inspected even when wrong.
//
// Hosts are completed to FQDNs with the resource's namespace (R1; a resource without namespace is
// in "default"). Destinations are Envoy clusters outbound|port|subset|fqdn (R2); a destination
// without port.number takes its port from LoadOptions.Ports, else accepts any port when checking.
//
// # Interpretations
//
//   - Authority to VirtualService: the port is stripped; the host is tried as an FQDN, then
//     "name.ns" and "name.ns.svc" are completed with the domain, then a bare name is matched
//     against the first label of every VirtualService host and used when exactly one
//     VirtualService claims it (the log does not say the caller's namespace). When the authority
//     gives nothing, Check uses the FQDN of the record's first cluster.
//   - Matching (R8, R9): uri, method and authority are evaluated; header (an empty match `{}`
//     means "present"), withoutHeaders, scheme, sourceLabels, gateways, port, queryParams and
//     sourceNamespace conditions are "unknown" when the request does not carry them. Match
//     blocks are compared by value for Istio's IST0131 (two blocks differing only in gateways
//     or port are not duplicates).
//   - Delegation (Istio's MergeHTTPRoutes): a VirtualService without hosts is a delegate; a root
//     route with `delegate` is replaced by the delegate's routes, each matched by root ∧
//     delegate, the delegate's conditions winning where both set one; a delegate route whose
//     match conflicts with the root's is dropped (a lint warning), as is a delegate that does
//     not exist or is not exported to the root's namespace (lint errors). Decide, Check and
//     Simulate use the delegate's destinations and fallbacks; such a route is labelled with the
//     delegate's "<namespace>/<name>#<route>" and Route.Via names the root route.
//   - Hosts claimed twice (IST0109): VirtualServices bound to the mesh are grouped by exportTo
//     scope; a host exported to some namespaces also collides with every host exported to all
//     that it matches, wildcards included, as Istio's analyzer does. Decide takes the first route that matches or may
//     match and sets Decision.MatchUnknown; Check accepts a record that fits any route that may
//     match, up to the first that certainly does.
//   - Weights (R6): one destination takes everything; otherwise weight 0 is never chosen and the
//     others get w/Σw. Negative weights and Σ = 0 are lint errors.
//   - Health (R13): a subset no DestinationRule defines is an unhealthy cluster. Without a
//     fallback it answers 503 NC (R5); with a fallback Decide falls back, and Check accepts both
//     readings. Outlier ejection cannot be seen in logs; CheckOptions.OutlierUnhealthy records the
//     assumption.
//   - Fallback (R12–R17): only the chosen destination's own fallback is consulted, once; a
//     successful fallback's code and flags are the target's; a failed one is 503 UH with
//     upstream_cluster the chosen cluster. fallback.case is not interpreted (lint warns).
//   - Ports in Decide: where the configuration gives none, the authority's port (else 80) is used
//     so the decision can be written as a log record.
//   - Checking (C1–C5): records with NR or NC only need to carry no fallback metadata (C5).
//     A fallback_result other than ASM's two strings is Unknown (R23), as is a host without a
//     VirtualService. Paths of more than two clusters are inconsistent
//     unless CheckOptions.MultiHop, which then checks every edge (C4).
//   - Health timeline (C6): a given Timeline (CheckOptions.Health) makes a contradiction
//     inconsistent, or a warning within HealthMargin of a change. Without one the checker infers
//     a timeline from the records (unhealthy where a cluster falls back or fails with UH, healthy
//     where it serves) and warns when a record contradicts evidence less than HealthMargin old.
//   - Weights are never judged per record (C7): GoodnessOfFit tests a window's split.
//   - Wildcard hosts in authority lookup and gateway-bound routing are not modelled.
package routing
