#!/usr/bin/env bash
# Builds the real kube-apiserver from tools/kube-apiserver (its own Go module, so that
# k8s.io/kubernetes stays out of the project's go.mod) into a stable cache directory and
# prints the binary's path. The first build takes minutes; later runs reuse the binary,
# or the Go build cache when the binary was removed.
#
#   KUBE_APISERVER_DIR  where the binary goes (default: $XDG_CACHE_HOME or ~/.cache,
#                       then fallbackwatch/kube-apiserver-<version>)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mod="$root/tools/kube-apiserver"
export PATH="$PATH:/usr/local/go/bin"
GO="${GO:-go}"

version="$(cd "$mod" && "$GO" list -m -f '{{.Version}}' k8s.io/kubernetes)"
if [ -z "$version" ]; then
	echo "build-kube-apiserver: $mod/go.mod does not require k8s.io/kubernetes" >&2
	exit 1
fi
dir="${KUBE_APISERVER_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/fallbackwatch/kube-apiserver-$version}"
bin="$dir/kube-apiserver"

mkdir -p "$dir"
# One build at a time: a second run waits for the first and then finds its binary.
exec 9>"$dir/.lock"
flock 9

# Rebuild when go.mod or go.sum changed since the binary was built (by content, not time: a fresh
# clone's files are all new).
stamp="$(cat "$mod/go.mod" "$mod/go.sum" | sha256sum | cut -d' ' -f1)"
if [ -x "$bin" ] && [ "$(cat "$bin.stamp" 2>/dev/null)" = "$stamp" ]; then
	echo "$bin"
	exit 0
fi
(cd "$mod" && nice -n 19 "$GO" build -trimpath -o "$bin.tmp" k8s.io/kubernetes/cmd/kube-apiserver) >&2
mv "$bin.tmp" "$bin"
echo "$stamp" >"$bin.stamp"
echo "$bin"
