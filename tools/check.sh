#!/bin/sh
# check.sh: the project's test command (what CI runs). Builds and runs
# `make check` (cmocka suites, simulated-driver end-to-end tests, the cuda.h
# coverage check, and the GPU tests, which skip without a GPU); then the same
# under AddressSanitizer + UndefinedBehaviorSanitizer and under
# ThreadSanitizer, each built from the distribution tarball in a directory
# of its own; then `make distcheck`. Set CHECK_QUICK=1 to run only the first.
set -eu
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)
[ -x configure ] || autoreconf -fi
[ -f Makefile ] || ./configure
make -j"$jobs"
make -j"$jobs" check || { cat test-suite.log; exit 1; }
# The closing line, in the plain form CI reads: the main run's counts.
count() { sed -n "s/^# $1: *//p" test-suite.log; }
summary="check: $(count PASS) passed, $(( $(count FAIL) + $(count ERROR) )) failed, $(count SKIP) skipped"
[ "${CHECK_QUICK:-0}" = 1 ] && { echo "$summary"; exit 0; }

make dist >/dev/null
top=$(pwd)
for san in sanitizers tsan; do
    echo "== sanitizer build (--enable-$san) =="
    rm -rf "build-$san" && mkdir "build-$san"
    tar -C "build-$san" -xzf graphshim-*.tar.gz
    cd "build-$san"/graphshim-*
    ./configure --enable-$san >/dev/null
    make -j"$jobs" >/dev/null
    make -j"$jobs" check || { cat test-suite.log; exit 1; }
    cd "$top" && rm -rf "build-$san"
done

echo "== make distcheck =="
make -j"$jobs" distcheck
echo "$summary"
