#!/bin/sh
# Installs the real components the tests run against, from Debian: prometheus (prometheus and
# promtool), prometheus-alertmanager (Debian names its binary prometheus-alertmanager; amtool),
# mtail, git (the version tests build from the repository), chromium (the report's browser test)
# etcd-server (the store of the kube-apiserver the live-routing test starts) and kubectl (its
# built-in kustomize renders deploy/). Packages already installed are left alone; apt-get update
# runs once, and only when something is missing.
# Usage: scripts/install-prometheus.sh   (as root, or with sudo available)
#
# Package post-install scripts must not start services (the tests start their own on 127.0.0.1):
# while installing, a policy-rc.d that denies every start is put at $POLICY_RC_D (default
# /usr/sbin/policy-rc.d) unless one is there already; one the script created is removed again,
# one that was there is left untouched.
set -eu

policy_path=${POLICY_RC_D:-/usr/sbin/policy-rc.d}

missing=""
command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1 || missing="$missing prometheus"
command -v amtool >/dev/null 2>&1 && { command -v alertmanager >/dev/null 2>&1 || command -v prometheus-alertmanager >/dev/null 2>&1; } || missing="$missing prometheus-alertmanager"
command -v mtail >/dev/null 2>&1 || missing="$missing mtail"
command -v git >/dev/null 2>&1 || missing="$missing git"
command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
command -v etcd >/dev/null 2>&1 || missing="$missing etcd-server"
command -v kubectl >/dev/null 2>&1 || missing="$missing kubectl"
[ -z "$missing" ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null 2>&1 || { echo "install-prometheus: need root or sudo to install:$missing" >&2; exit 1; }
	sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive

created=""
cleanup() {
	if [ -n "$created" ]; then
		$sudo rm -f "$created"
	fi
}
# The script's status is that of the command that ended it, never the clean-up's.
trap 'status=$?; cleanup; exit $status' EXIT
if [ ! -e "$policy_path" ]; then
	created=$policy_path
	printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy_path" >/dev/null
	$sudo chmod +x "$policy_path"
fi
$sudo apt-get update -qq >/dev/null
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
echo "install-prometheus: installed$missing"
