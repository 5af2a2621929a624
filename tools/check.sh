#!/bin/sh
# check.sh: the project's test command (what CI runs). Builds and runs
# `make check` (cmocka suites, simulated-driver end-to-end tests, the cuda.h
# coverage check, and the GPU tests, which skip without a GPU); then the same
# under AddressSanitizer + UndefinedBehaviorSanitizer, built from the
# distribution tarball in build-asan/; then `make distcheck`. Set
# CHECK_QUICK=1 to run only the first.
set -eu
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)
[ -x configure ] || autoreconf -fi
[ -f Makefile ] || ./configure
make -j"$jobs"
make -j"$jobs" check || { cat test-suite.log; exit 1; }
[ "${CHECK_QUICK:-0}" = 1 ] && exit 0

echo "== sanitizer build (ASan + UBSan) =="
make dist >/dev/null
top=$(pwd)
rm -rf build-asan && mkdir build-asan
tar -C build-asan -xzf graphshim-*.tar.gz
cd build-asan/graphshim-*
./configure --enable-sanitizers >/dev/null
make -j"$jobs" >/dev/null
make -j"$jobs" check || { cat test-suite.log; exit 1; }
cd "$top" && rm -rf build-asan

echo "== make distcheck =="
make -j"$jobs" distcheck
