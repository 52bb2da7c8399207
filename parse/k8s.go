package parse

import (
	"fmt"
	"path"
	"strings"
)

// PodFromLogPath decodes the pod a container log file belongs to, from the kubelet's names:
// /var/log/containers/<pod>_<namespace>_<container>-<64 hex container id>.log and
// /var/log/pods/<namespace>_<pod>_<uid>/<container>/<restart>.log.
func PodFromLogPath(p string) (namespace, pod, container string, err error) {
	base := path.Base(p)
	if !strings.HasSuffix(base, ".log") {
		return "", "", "", fmt.Errorf("log path %q: want a .log file", p)
	}
	name := strings.TrimSuffix(base, ".log")
	if parts := strings.Split(name, "_"); len(parts) == 3 {
		c := parts[2]
		i := strings.LastIndexByte(c, '-')
		if i > 0 && isHex(c[i+1:], 64) && parts[0] != "" && parts[1] != "" {
			return parts[1], parts[0], c[:i], nil
		}
	}
	// /var/log/pods/<namespace>_<pod>_<uid>/<container>/<n>.log
	dir := path.Dir(p)
	container = path.Base(dir)
	podDir := path.Base(path.Dir(dir))
	if parts := strings.Split(podDir, "_"); len(parts) == 3 && parts[0] != "" && parts[1] != "" && container != "." && container != "/" {
		return parts[0], parts[1], container, nil
	}
	return "", "", "", fmt.Errorf("log path %q: want /var/log/containers/<pod>_<namespace>_<container>-<id>.log or /var/log/pods/<namespace>_<pod>_<uid>/<container>/<n>.log", p)
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// WorkloadFromPod guesses the workload a pod belongs to from its name: it strips a Deployment's
// ReplicaSet hash and pod suffix (productpage-v1-5f9dbcd669-x2k7p → productpage-v1), a
// StatefulSet's ordinal (web-0 → web) and a DaemonSet's or Job's pod suffix (fluent-bit-7xkqz →
// fluent-bit). Names that show none of these are returned unchanged.
func WorkloadFromPod(pod string) string {
	parts := strings.Split(pod, "-")
	n := len(parts)
	if n >= 3 && isRandSuffix(parts[n-1], 5, 5) && isRandSuffix(parts[n-2], 6, 10) {
		return strings.Join(parts[:n-2], "-")
	}
	if n >= 2 && isOrdinal(parts[n-1]) {
		return strings.Join(parts[:n-1], "-")
	}
	if n >= 2 && isRandSuffix(parts[n-1], 5, 5) {
		return strings.Join(parts[:n-1], "-")
	}
	return pod
}

// isRandSuffix reports whether s is made of Kubernetes' random-string alphabet
// (bcdfghjklmnpqrstvwxz2456789), as pod suffixes and pod-template hashes are.
func isRandSuffix(s string, minLen, maxLen int) bool {
	if len(s) < minLen || len(s) > maxLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !strings.ContainsRune("bcdfghjklmnpqrstvwxz2456789", rune(s[i])) {
			return false
		}
	}
	return true
}

func isOrdinal(s string) bool {
	if s == "" || len(s) > 5 || (s[0] == '0' && len(s) > 1) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
