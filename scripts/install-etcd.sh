#!/usr/bin/env bash
# Installs etcd for the tests that run a real Kubernetes API server (internal/kubetest): Debian's
# etcd-server package, unless an etcd is already on PATH. Run as root (make deps).
set -euo pipefail

if command -v etcd >/dev/null 2>&1; then
	etcd --version | head -n 1
	exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
	echo "install-etcd: no apt-get; install etcd 3.4 or later and put it on PATH (or set ETCD)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get install -y --no-install-recommends etcd-server >/dev/null ||
	{ apt-get update >/dev/null && apt-get install -y --no-install-recommends etcd-server >/dev/null; }
# The package's service is not needed: the tests start their own etcd on free ports.
etcd --version | head -n 1
