package parse

import (
	"bytes"
	"fmt"
	"strconv"
)

// ClusterKind says what sort of Envoy cluster a name denotes (R2).
type ClusterKind uint8

const (
	// ClusterOutbound is outbound|<port>|<subset>|<fqdn>: a sidecar or gateway sending a request.
	ClusterOutbound ClusterKind = iota + 1
	// ClusterInbound is inbound|<port>||, inbound|<port>||<fqdn>, or before Istio 1.10
	// inbound|<port>|<port name>|<fqdn>: a sidecar handing a received request to its workload.
	ClusterInbound
	// ClusterBlackHole is BlackHoleCluster.
	ClusterBlackHole
	// ClusterPassthrough is PassthroughCluster.
	ClusterPassthrough
	// ClusterInboundPassthroughV4 is InboundPassthroughClusterIpv4.
	ClusterInboundPassthroughV4
	// ClusterInboundPassthroughV6 is InboundPassthroughClusterIpv6.
	ClusterInboundPassthroughV6
	// ClusterInboundVIP is an ambient waypoint's inbound-vip|<port>|<protocol[/subset]>|<fqdn>.
	ClusterInboundVIP
	// ClusterConnectOriginate is connect_originate, the HBONE tunnel an ambient waypoint opens
	// towards the destination workload.
	ClusterConnectOriginate
	// ClusterSNIDNAT is outbound_.<port>_.<subset>_.<fqdn>, the SNI name an east-west gateway
	// routes a mTLS connection by (Istio's DNS SRV subset key).
	ClusterSNIDNAT
	// ClusterGatewayRoute is an Envoy Gateway route cluster, such as httproute/<ns>/<name>/rule/<n>.
	ClusterGatewayRoute
	// ClusterOther is any other well-formed name: a custom cluster, or an outbound cluster
	// renamed by Istio's outboundClusterStatName (Envoy logs a cluster's observability name).
	ClusterOther
)

var clusterKindNames = [...]string{"", "outbound", "inbound", "BlackHoleCluster", "PassthroughCluster",
	"InboundPassthroughClusterIpv4", "InboundPassthroughClusterIpv6", "inbound-vip", "connect_originate",
	"outbound_.", "gateway-route", "other"}

// String returns "outbound", "inbound", the well-known cluster's own name, or the name of the
// kind of the other clusters ("inbound-vip", "outbound_.", "gateway-route", "other").
func (k ClusterKind) String() string {
	if int(k) < len(clusterKindNames) && k != 0 {
		return clusterKindNames[k]
	}
	return "invalid"
}

// Direction says which side of a request wrote an access-log record.
type Direction uint8

const (
	// DirectionNone: the record names no upstream cluster (404 NR, 503 UC before routing).
	DirectionNone Direction = iota
	// DirectionOutbound: the proxy routed a request it was sending (client side): the
	// routing decisions fallbackwatch judges.
	DirectionOutbound
	// DirectionInbound: the proxy received the request and handed it to its workload (server
	// side, including ambient waypoints). Its clusters are not a routing decision.
	DirectionInbound
	// DirectionGateway: an east-west gateway passing a connection through by SNI, or an Envoy
	// Gateway route.
	DirectionGateway
	// DirectionUnknown: a cluster name fallbackwatch cannot place (custom or renamed clusters).
	DirectionUnknown
)

var directionNames = [...]string{"none", "outbound", "inbound", "gateway", "unknown"}

// String returns the `direction` label value: none, outbound, inbound, gateway or unknown.
func (d Direction) String() string {
	if int(d) < len(directionNames) {
		return directionNames[d]
	}
	return "unknown"
}

// Direction is the side of a request that logs a cluster of kind k.
func (k ClusterKind) Direction() Direction {
	switch k {
	case ClusterOutbound, ClusterBlackHole, ClusterPassthrough:
		return DirectionOutbound
	case ClusterInbound, ClusterInboundPassthroughV4, ClusterInboundPassthroughV6, ClusterInboundVIP, ClusterConnectOriginate:
		return DirectionInbound
	case ClusterSNIDNAT, ClusterGatewayRoute:
		return DirectionGateway
	}
	return DirectionUnknown
}

// ClusterRef is a decoded cluster name whose byte fields borrow from the input.
type ClusterRef struct {
	Kind   ClusterKind
	Port   int    // 0 when the name carries none
	Subset []byte // empty when the cluster has no subset
	FQDN   []byte // empty for the well-known clusters
	// PortName is the third field of a pre-1.10 inbound name and the protocol of an
	// inbound-vip name: not a subset.
	PortName []byte
	// Name is the whole name of a gateway-route or other cluster.
	Name []byte
}

// Cluster is a decoded cluster name that owns its strings.
type Cluster struct {
	Kind     ClusterKind
	Port     int
	Subset   string
	FQDN     string
	PortName string
	Name     string
}

// String returns the Envoy cluster name (R2).
func (c Cluster) String() string {
	port := ""
	if c.Port > 0 {
		port = strconv.Itoa(c.Port)
	}
	switch c.Kind {
	case ClusterOutbound:
		return c.Kind.String() + "|" + port + "|" + c.Subset + "|" + c.FQDN
	case ClusterInbound, ClusterInboundVIP:
		return c.Kind.String() + "|" + port + "|" + c.PortName + "|" + c.FQDN
	case ClusterSNIDNAT:
		return "outbound_." + port + "_." + c.Subset + "_." + c.FQDN
	case ClusterGatewayRoute, ClusterOther:
		return c.Name
	}
	return c.Kind.String()
}

// Owned copies the borrowed fields into a Cluster.
func (r ClusterRef) Owned() Cluster {
	return Cluster{Kind: r.Kind, Port: r.Port, Subset: string(r.Subset), FQDN: string(r.FQDN),
		PortName: string(r.PortName), Name: string(r.Name)}
}

// ParseCluster decodes a cluster name into a Cluster that owns its strings.
func ParseCluster(name string) (Cluster, error) {
	r, err := SplitCluster([]byte(name))
	if err != nil {
		return Cluster{}, err
	}
	return r.Owned(), nil
}

// maxClusterName bounds a cluster name; Envoy's own names are far shorter.
const maxClusterName = 1024

// gatewayRoutePrefixes start the cluster names Envoy Gateway gives its routes' backends.
var gatewayRoutePrefixes = [...]string{"httproute/", "grpcroute/", "tcproute/", "tlsroute/", "udproute/"}

// SplitCluster decodes a cluster name without allocating (R2): outbound|9080|v3|reviews.default.svc.cluster.local,
// inbound|9080|| (and its longer forms), BlackHoleCluster, PassthroughCluster,
// InboundPassthroughClusterIpv4/6, an ambient waypoint's inbound-vip|… and connect_originate, an
// east-west gateway's outbound_.9080_._.reviews.default.svc.cluster.local, Envoy Gateway's
// httproute/…, and any other name of printable ASCII without spaces (ClusterOther). Only a name
// that is empty, too long, holds spaces, control or non-ASCII bytes, or starts like an Istio
// name and breaks its shape is an error.
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
	case "connect_originate":
		r.Kind = ClusterConnectOriginate
		return r, nil
	}
	var rest []byte
	switch {
	case bytes.HasPrefix(name, []byte("outbound|")):
		r.Kind, rest = ClusterOutbound, name[len("outbound|"):]
	case bytes.HasPrefix(name, []byte("inbound|")):
		r.Kind, rest = ClusterInbound, name[len("inbound|"):]
	case bytes.HasPrefix(name, []byte("inbound-vip|")):
		r.Kind, rest = ClusterInboundVIP, name[len("inbound-vip|"):]
	case bytes.HasPrefix(name, []byte("outbound_.")):
		return splitSNIDNAT(name)
	default:
		if err := checkName(name); err != nil {
			return r, err
		}
		r.Kind, r.Name = ClusterOther, name
		for _, p := range gatewayRoutePrefixes {
			if bytes.HasPrefix(name, []byte(p)) {
				r.Kind = ClusterGatewayRoute
			}
		}
		return r, nil
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
	third := rest[:j]
	r.FQDN = rest[j+1:]
	if r.Kind == ClusterOutbound {
		r.Subset = third
	} else {
		r.PortName = third
	}
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
	if r.Kind != ClusterInbound && (r.Port == 0 || len(r.FQDN) == 0) {
		return r, fmt.Errorf("cluster name %q: an %s cluster needs a port and a host", truncate(name), r.Kind)
	}
	if r.Kind == ClusterInbound && r.Port == 0 {
		return r, fmt.Errorf("cluster name %q: an inbound cluster needs a port", truncate(name))
	}
	return r, nil
}

// splitSNIDNAT decodes outbound_.<port>_.<subset>_.<fqdn> (Istio's BuildDNSSrvSubsetKey).
func splitSNIDNAT(name []byte) (ClusterRef, error) {
	r := ClusterRef{Kind: ClusterSNIDNAT}
	parts := bytes.SplitN(name[len("outbound_."):], []byte("_."), 3)
	if len(parts) != 3 || len(parts[2]) == 0 {
		return r, fmt.Errorf("cluster name %q: want outbound_.<port>_.<subset>_.<host>", truncate(name))
	}
	p, ok := atoiPort(parts[0])
	if !ok {
		return r, fmt.Errorf("cluster name %q: port %q is not a number in 1..65535", truncate(name), truncate(parts[0]))
	}
	r.Port, r.Subset, r.FQDN = p, parts[1], parts[2]
	if err := checkName(name); err != nil {
		return r, err
	}
	return r, nil
}

// checkName accepts a name of 1 to maxClusterName printable ASCII bytes other than space.
func checkName(name []byte) error {
	if len(name) == 0 {
		return fmt.Errorf("cluster name is empty")
	}
	if len(name) > maxClusterName {
		return fmt.Errorf("cluster name %q: longer than %d bytes", truncate(name), maxClusterName)
	}
	for i, c := range name {
		if c <= ' ' || c >= 0x7f {
			return fmt.Errorf("cluster name %q: byte %d is %q, not printable ASCII", truncate(name), i, c)
		}
	}
	return nil
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
