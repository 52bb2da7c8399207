package parse

import (
	"bytes"
	"fmt"
	"strconv"
)

// ClusterKind says what sort of Envoy cluster a name denotes (R2).
type ClusterKind uint8

const (
	// ClusterOutbound is outbound|<port>|<subset>|<fqdn>.
	ClusterOutbound ClusterKind = iota + 1
	// ClusterInbound is inbound|<port>|<subset>|<fqdn>, usually inbound|<port>||.
	ClusterInbound
	// ClusterBlackHole is BlackHoleCluster.
	ClusterBlackHole
	// ClusterPassthrough is PassthroughCluster.
	ClusterPassthrough
	// ClusterInboundPassthroughV4 is InboundPassthroughClusterIpv4.
	ClusterInboundPassthroughV4
	// ClusterInboundPassthroughV6 is InboundPassthroughClusterIpv6.
	ClusterInboundPassthroughV6
)

var clusterKindNames = [...]string{"", "outbound", "inbound", "BlackHoleCluster", "PassthroughCluster",
	"InboundPassthroughClusterIpv4", "InboundPassthroughClusterIpv6"}

// String returns "outbound", "inbound" or the well-known cluster's own name.
func (k ClusterKind) String() string {
	if int(k) < len(clusterKindNames) && k != 0 {
		return clusterKindNames[k]
	}
	return "invalid"
}

// ClusterRef is a decoded cluster name whose byte fields borrow from the input.
type ClusterRef struct {
	Kind   ClusterKind
	Port   int    // 0 when the name carries none
	Subset []byte // empty when the cluster has no subset
	FQDN   []byte // empty for the well-known clusters
}

// Cluster is a decoded cluster name that owns its strings.
type Cluster struct {
	Kind   ClusterKind
	Port   int
	Subset string
	FQDN   string
}

// String returns the Envoy cluster name (R2).
func (c Cluster) String() string {
	switch c.Kind {
	case ClusterOutbound, ClusterInbound:
		port := ""
		if c.Port > 0 {
			port = strconv.Itoa(c.Port)
		}
		return c.Kind.String() + "|" + port + "|" + c.Subset + "|" + c.FQDN
	}
	return c.Kind.String()
}

// Owned copies the borrowed fields into a Cluster.
func (r ClusterRef) Owned() Cluster {
	return Cluster{Kind: r.Kind, Port: r.Port, Subset: string(r.Subset), FQDN: string(r.FQDN)}
}

// ParseCluster decodes a cluster name into a Cluster that owns its strings.
func ParseCluster(name string) (Cluster, error) {
	r, err := SplitCluster([]byte(name))
	if err != nil {
		return Cluster{}, err
	}
	return r.Owned(), nil
}

// SplitCluster decodes a cluster name without allocating: outbound|9080|v3|reviews.default.svc.cluster.local,
// inbound|9080||, BlackHoleCluster, PassthroughCluster, InboundPassthroughClusterIpv4/6 (R2).
func SplitCluster(name []byte) (ClusterRef, error) {
	var r ClusterRef
	switch string(name) {
	case "BlackHoleCluster":
		r.Kind = ClusterBlackHole
		return r, nil
	case "PassthroughCluster":
		r.Kind = ClusterPassthrough
		return r, nil
	case "InboundPassthroughClusterIpv4":
		r.Kind = ClusterInboundPassthroughV4
		return r, nil
	case "InboundPassthroughClusterIpv6":
		r.Kind = ClusterInboundPassthroughV6
		return r, nil
	}
	var rest []byte
	switch {
	case bytes.HasPrefix(name, []byte("outbound|")):
		r.Kind, rest = ClusterOutbound, name[len("outbound|"):]
	case bytes.HasPrefix(name, []byte("inbound|")):
		r.Kind, rest = ClusterInbound, name[len("inbound|"):]
	default:
		return r, fmt.Errorf("cluster name %q: want outbound|port|subset|host, inbound|port|subset|host or a well-known cluster", truncate(name))
	}
	// The port and the subset are short: find their ends byte by byte.
	i := indexPipe(rest)
	if i < 0 {
		return r, fmt.Errorf("cluster name %q: want 4 fields separated by '|'", truncate(name))
	}
	port := rest[:i]
	rest = rest[i+1:]
	j := indexPipe(rest)
	if j < 0 {
		return r, fmt.Errorf("cluster name %q: want 4 fields separated by '|'", truncate(name))
	}
	r.Subset, r.FQDN = rest[:j], rest[j+1:]
	if bytes.IndexByte(r.FQDN, '|') >= 0 {
		return r, fmt.Errorf("cluster name %q: more than 4 fields", truncate(name))
	}
	if len(port) > 0 {
		p, ok := atoiPort(port)
		if !ok {
			return r, fmt.Errorf("cluster name %q: port %q is not a number in 1..65535", truncate(name), truncate(port))
		}
		r.Port = p
	}
	if r.Kind == ClusterOutbound && (r.Port == 0 || len(r.FQDN) == 0) {
		return r, fmt.Errorf("cluster name %q: an outbound cluster needs a port and a host", truncate(name))
	}
	if r.Kind == ClusterInbound && r.Port == 0 {
		return r, fmt.Errorf("cluster name %q: an inbound cluster needs a port", truncate(name))
	}
	return r, nil
}

// indexPipe returns the index of the first '|' in b, or -1.
func indexPipe(b []byte) int {
	for i, c := range b {
		if c == '|' {
			return i
		}
	}
	return -1
}

func atoiPort(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 5 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, n >= 1 && n <= 65535
}

// SplitPath splits a fallback_path value on ':' (R22) into dst[:0] and checks every element is a
// valid cluster name. A nil or empty value yields no clusters. A path must name at least two
// clusters; whether more than two are allowed is routing's concern (R17, C4).
func SplitPath(path []byte, dst [][]byte) ([][]byte, error) {
	dst = dst[:0]
	if len(path) == 0 {
		return dst, nil
	}
	for rest := path; ; {
		i := bytes.IndexByte(rest, ':')
		part := rest
		if i >= 0 {
			part = rest[:i]
		}
		if _, err := SplitCluster(part); err != nil {
			return dst, fmt.Errorf("fallback_path %q, element %d: %w", truncate(path), len(dst)+1, err)
		}
		dst = append(dst, part)
		if i < 0 {
			break
		}
		rest = rest[i+1:]
	}
	if len(dst) < 2 {
		return dst, fmt.Errorf("fallback_path %q: want at least two clusters joined by ':'", truncate(path))
	}
	return dst, nil
}

// truncate shortens a piece of bad input for quoting in an error message.
func truncate(b []byte) string {
	const max = 120
	if len(b) > max {
		return string(b[:max]) + "…"
	}
	return string(b)
}
