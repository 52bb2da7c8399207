#!/bin/sh
# Installs the real components the tests run against, from Debian: prometheus (prometheus and
# promtool), prometheus-alertmanager (alertmanager and amtool) and mtail. Packages already
# installed are left alone; apt-get update runs once, and only when something is missing.
# Usage: scripts/install-prometheus.sh   (as root, or with sudo available)
set -eu

missing=""
command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1 || missing="$missing prometheus"
command -v amtool >/dev/null 2>&1 || missing="$missing prometheus-alertmanager"
command -v mtail >/dev/null 2>&1 || missing="$missing mtail"
[ -z "$missing" ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null 2>&1 || { echo "install-prometheus: need root or sudo to install:$missing" >&2; exit 1; }
	sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
# Package post-install scripts must not start services: the tests start their own on 127.0.0.1.
policy=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
	policy=/usr/sbin/policy-rc.d
	printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
	$sudo chmod +x "$policy"
fi
cleanup() { [ -n "$policy" ] && $sudo rm -f "$policy"; }
trap cleanup EXIT
$sudo apt-get update -qq >/dev/null
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
echo "install-prometheus: installed$missing"
