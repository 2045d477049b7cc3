#!/bin/sh
# What pip cannot install, from Debian's packages:
#   - prometheus and promtool, for tests/test_prometheus.py and tests/test_deploy.py;
#   - an OpenBLAS built for every x86-64 CPU (libopenblas0-pthread), for MLX's matmuls
#     on a CPU that the pip OpenBLAS was not built for (the cmeel wheel targets its build
#     machine's CPU: one built for AVX-512 dies of SIGILL on a CPU without it).
# `make test` and `make check` run this before pytest, `make up` runs `... blas`;
# the tests never install anything. Nothing to do when everything is there. Installing
# needs root (CI runs as root); without it this says what to run, and MLX falls back
# to its slow reference BLAS with a warning.
#
#   sh tests/setup_system.sh          prometheus + OpenBLAS
#   sh tests/setup_system.sh blas     OpenBLAS only
set -eu

packages=""
if [ "${1:-all}" != "blas" ]; then
    if ! command -v prometheus >/dev/null 2>&1 || ! command -v promtool >/dev/null 2>&1; then
        packages="prometheus"
    fi
fi
if [ "$(uname -s)" = "Linux" ] && ! ls /usr/lib/*/libopenblas.so.0 /usr/lib64/libopenblas.so.0 >/dev/null 2>&1; then
    packages="$packages libopenblas0-pthread"
fi
if [ -z "$packages" ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "tests/setup_system.sh: missing Debian packages:$packages; run 'sudo sh tests/setup_system.sh'" >&2
    exit 0
fi

echo "tests/setup_system.sh: installing Debian packages:$packages"
export DEBIAN_FRONTEND=noninteractive
# Exit 101 ("action forbidden"): invoke-rc.d starts no packaged service during the install.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod 755 "$policy"
    trap 'rm -f "$policy"' EXIT
fi
apt-get update
# shellcheck disable=SC2086  # the list is meant to split into package names
apt-get install -y --no-install-recommends $packages
