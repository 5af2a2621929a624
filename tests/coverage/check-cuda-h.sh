#!/bin/sh
# check-cuda-h.sh: no hole for a new toolkit to open. Parses the installed
# cuda.h and fails if a function that takes a stream (directly or inside a
# launch or instantiate structure), or that synchronises, frees, unloads,
# destroys, resets, launches, copies or sets memory, is missing from
# src/hooks.def. Then proves it can fail: a header with one extra stream
# function must be reported.
. "${top_srcdir:-.}/tests/env.sh"
HEADER_DIR="${CUDA_HOME:-/usr/local/cuda}/include"
[ -f "$HEADER_DIR/cuda.h" ] || fail "no cuda.h in $HEADER_DIR"
"$top_builddir/tests/coverage/hooklist" | cut -d' ' -f1 | sort -u >"$TMP/hooked"
[ -s "$TMP/hooked" ] || fail "empty hook list"

# required INCLUDE_DIR EXTRA_DECLARATION: prints the names cuda.h obliges us to hook.
required() {
    printf '#include <cuda.h>\n%s\n' "$2" |
        ${CC:-cc} -E -P -D__CUDA_API_VERSION_INTERNAL -I"$1" - 2>/dev/null |
        tr '\n\t' '  ' >"$TMP/flat"
    # Structures that carry a stream, and their typedef aliases.
    grep -oE 'typedef struct [A-Za-z0-9_]+ *\{[^}]*CUstream [^}]*\} *[A-Za-z0-9_]+' "$TMP/flat" |
        sed -E 's/.*\} *//' >"$TMP/structs"
    for s in $(cat "$TMP/structs"); do
        grep -oE "typedef $s +[A-Za-z0-9_]+ *;" "$TMP/flat" | sed -E 's/typedef [^ ]+ +//; s/ *;//'
    done >>"$TMP/structs"
    types="CUstream$(sort -u "$TMP/structs" | sed 's/^/|/' | tr -d '\n')"
    sed 's/;/;\n/g' "$TMP/flat" |
        grep -oE 'CUresult +cu[A-Za-z0-9_]+ *\([^;()]*\) *;' |
        sed -E 's/^CUresult +//' |
        awk -v types="$types" '
        {
            name = $0; sub(/ *\(.*/, "", name)
            params = $0; sub(/^[^(]*\(/, "", params)
            if (params ~ ("(^|[^A-Za-z0-9_])(" types ")([^A-Za-z0-9_]|$)") ||
                name ~ /Synchronize|Free|Unload|Destroy|Release|Reset|Unmap|Unregister|Close|Trim|Query/ ||
                name ~ /^cu(Launch|Memcpy|Memset)/)
                print name
        }' | sort -u
}

required "$HEADER_DIR" "" >"$TMP/required"
nreq=$(wc -l <"$TMP/required")
[ "$nreq" -gt 100 ] || fail "only $nreq required functions found: is the parser broken?"
comm -23 "$TMP/required" "$TMP/hooked" >"$TMP/missing"
if [ -s "$TMP/missing" ]; then
    echo "functions in $HEADER_DIR/cuda.h that graphshim does not interpose:" >&2
    sed 's/^/  /' "$TMP/missing" >&2
    fail "$(wc -l <"$TMP/missing") functions missing from src/hooks.def"
fi
pass "all $nreq stream-taking, synchronising, freeing, unloading, launching, copying and memset functions of cuda.h are hooked ($(wc -l <"$TMP/hooked") entries)"

# The check must be able to fail.
required "$HEADER_DIR" "CUresult cuFutureStreamThing(int x, CUstream hStream); CUresult cuFutureLaunchThing(const CUlaunchConfig *c);" \
    >"$TMP/required2"
comm -23 "$TMP/required2" "$TMP/hooked" >"$TMP/missing2"
expect_eq "functions reported for a header with two new ones" "$(tr '\n' ' ' <"$TMP/missing2")" "cuFutureLaunchThing cuFutureStreamThing "
pass "a new stream-taking function would be reported"
