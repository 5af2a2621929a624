#!/bin/sh
# quickstart.sh: set everything up and run the main job, on a fresh machine.
# Installs the build dependencies when they are missing (Debian/Ubuntu, as
# root), configures, builds, and runs `make bench`: the decode benchmark
# eager, eager under the shim, and hand-captured as a graph on a GPU; the
# same demonstration on the simulated driver when there is no GPU.
# Extra arguments go to ./configure (e.g. --with-cuda=/opt/cuda).
set -eu
cd "$(dirname "$0")/.."
need=""
command -v autoreconf >/dev/null 2>&1 || need="$need autoconf automake"
command -v libtoolize >/dev/null 2>&1 || need="$need libtool"
[ -f /usr/include/uthash.h ] || need="$need uthash-dev"
[ -f /usr/include/cmocka.h ] || [ -n "${CMOCKA_CFLAGS:-}" ] || need="$need libcmocka-dev"
if [ -n "$need" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "quickstart: installing$need"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq autoconf automake libtool \
            pkg-config libcmocka-dev uthash-dev >/dev/null
    else
        echo "quickstart: please install:$need (and pkg-config)" >&2
        exit 1
    fi
fi
[ -x configure ] || autoreconf -fi
[ -f Makefile ] || ./configure "$@"
make -j"$(nproc 2>/dev/null || echo 2)"
make bench
