#!/bin/sh
# What the tests need from the system that pip cannot install: Prometheus and promtool
# (Debian's `prometheus` package), for tests/test_prometheus.py and tests/test_deploy.py.
# `make test` and `make check` run this before pytest; the tests never install anything.
# Nothing to do when both are on PATH. Installing needs root (CI runs as root); without
# it this says what to run and the tests that need the tools fail, saying why.
set -eu

if command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "tests/setup_system.sh: prometheus/promtool missing; run 'sudo sh tests/setup_system.sh'" >&2
    exit 0
fi

echo "tests/setup_system.sh: installing Debian's prometheus package (prometheus, promtool)"
export DEBIAN_FRONTEND=noninteractive
# Exit 101 ("action forbidden"): invoke-rc.d starts no packaged service during the install.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod 755 "$policy"
    trap 'rm -f "$policy"' EXIT
fi
apt-get update
apt-get install -y --no-install-recommends prometheus
