// Package topology is the view of the routing configuration that generated monitoring needs:
// which subsets exist, which fallback edges are configured, and how many requests per second each
// subset can serve. alertgen builds it from VirtualServices and DestinationRules; packages alerts
// and dashboards turn it into rules and panels, and programs that keep their routing elsewhere can
// build a Topology themselves. The package owns the capacity file format (LoadCapacity) and the
// host completion capacity files share with VirtualServices (FQDN).
package topology

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Subset is one subset of one service. Service is a FQDN (reviews.default.svc.cluster.local).
type Subset struct {
	Service string
	Subset  string
}

// String returns "<service>/<subset>", the form used by capacity files and `collector simulate`.
func (s Subset) String() string { return s.Service + "/" + s.Subset }

// Edge is one configured fallback: requests a route sends to From go to To when From has no
// healthy endpoint.
type Edge struct {
	Route string // the `route` label value of fallbackwatch_requests_total
	From  Subset
	To    Subset
}

// Topology is what monitoring is generated for.
type Topology struct {
	Subsets  []Subset           // every subset a route or fallback names, sorted
	Edges    []Edge             // every fallback edge, sorted
	Capacity map[Subset]float64 // requests per second a subset can serve; absent = unknown
}

// Sort puts Subsets and Edges in a stable order so generated output is deterministic.
func (t *Topology) Sort() {
	sort.Slice(t.Subsets, func(i, j int) bool { return t.Subsets[i].String() < t.Subsets[j].String() })
	sort.Slice(t.Edges, func(i, j int) bool {
		a, b := t.Edges[i], t.Edges[j]
		if a.Route != b.Route {
			return a.Route < b.Route
		}
		if a.From != b.From {
			return a.From.String() < b.From.String()
		}
		return a.To.String() < b.To.String()
	})
}

// Has reports whether s is one of t's subsets.
func (t *Topology) Has(s Subset) bool {
	for _, x := range t.Subsets {
		if x == s {
			return true
		}
	}
	return false
}

// capacityFile is the capacity file format:
//
//	capacity:
//	  reviews.default.svc.cluster.local/v2: 150
//	  reviews.default/v1: 80
//
// Keys are host/subset, the host completed as in VirtualServices (R1); values are requests per
// second.
type capacityFile struct {
	Capacity map[string]float64 `yaml:"capacity"`
}

// LoadCapacity reads a capacity file and resolves its keys against t's subsets. Every problem is
// reported, each naming the file and the key: unreadable file, unknown field, a key that is not
// host/subset, a non-positive value, a subset the routing configuration does not define.
func LoadCapacity(path string, t *Topology, defaultNamespace, domain string) (map[Subset]float64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("capacity file: %w", err)
	}
	var f capacityFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("capacity file %s: %w", path, err)
	}
	if f.Capacity == nil {
		return nil, fmt.Errorf("capacity file %s: no 'capacity' map", path)
	}
	out := make(map[Subset]float64, len(f.Capacity))
	var errs []error
	keys := make([]string, 0, len(f.Capacity))
	for k := range f.Capacity {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := f.Capacity[k]
		host, subset, ok := strings.Cut(k, "/")
		if !ok || host == "" || subset == "" || strings.Contains(subset, "/") {
			errs = append(errs, fmt.Errorf("capacity file %s: key %q: want host/subset", path, k))
			continue
		}
		if !(v > 0) {
			errs = append(errs, fmt.Errorf("capacity file %s: %s: capacity must be a positive number of requests per second, got %v", path, k, v))
			continue
		}
		s := Subset{Service: FQDN(host, defaultNamespace, domain), Subset: subset}
		if t != nil && !t.Has(s) {
			errs = append(errs, fmt.Errorf("capacity file %s: %s: subset %s is not defined by the routing configuration", path, k, s))
			continue
		}
		out[s] = v
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// FQDN completes a host name as Istio does (R1): a name without a dot becomes
// <name>.<namespace>.svc.<domain> (domain "" means cluster.local); names with a dot, wildcards and
// IPs are kept as they are.
func FQDN(host, namespace, domain string) string {
	if strings.ContainsAny(host, ".*:") {
		return host
	}
	if domain == "" {
		domain = "cluster.local"
	}
	if namespace == "" {
		namespace = "default"
	}
	return host + "." + namespace + ".svc." + domain
}
