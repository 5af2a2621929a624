#!/bin/sh
# report.sh: `graphshim report` on two runs of sim-decode made through the
# launcher: both columns, with the numbers of their statistics; on a
# document with step-breakers and a history (tests/schema/stats_sample):
# the breakers with their callers, and an SVG that is well-formed XML with
# a bar per step kept; older files without the new sections; and one-line
# errors for what it cannot read.
. "${top_srcdir:-.}/tests/env.sh"
G="$top_builddir/tools/graphshim"
SAN=${PRELOAD%"$SHIM"}
SAN=${SAN%:}
SD="$top_builddir/tools/sim-decode"
gs() { env LD_PRELOAD="$SAN" "$G" "$@"; }

env LD_LIBRARY_PATH="$SIMDIR" LD_PRELOAD="$SAN" "$G" --stats="$TMP/regular.json" -- "$SD" \
    --tokens=24 >/dev/null 2>&1 || fail "sim-decode under the launcher"
env LD_LIBRARY_PATH="$SIMDIR" LD_PRELOAD="$SAN" "$G" --stats="$TMP/irregular.json" -- "$SD" \
    --tokens=24 --irregular=2 >/dev/null 2>&1 || fail "sim-decode --irregular under the launcher"
gs report "$TMP/regular.json" "$TMP/irregular.json" >"$TMP/rep" 2>"$TMP/err" || fail "report: $(cat "$TMP/err")"
[ -s "$TMP/err" ] && fail "report wrote to stderr: $(cat "$TMP/err")"
# row LABEL: the cells after the label, as one line.
row() { grep "^$1 " "$TMP/rep" | sed "s/^$1  *//"; }
echo "$(row file)" | grep -q '^regular.json  *irregular.json$' || fail "file row: $(row file)"
for f in regular irregular; do
    ops=$(stats_get "$TMP/$f.json" totals.ops) rep=$(stats_get "$TMP/$f.json" totals.ops_replayed)
    [ "$ops" -gt 0 ] || fail "$f: no ops"
    row ops | grep -qw "$ops" || fail "ops row lacks $f's $ops: $(row ops)"
    row replayed | grep -q "$rep (" || fail "replayed row lacks $f's $rep: $(row replayed)"
done
for label in "graphs in use" "patches per step" "time saved (estimate)" "top step-breakers"; do
    [ "$(row "$label" | wc -w)" -ge 2 ] || fail "row '$label' is not filled for both runs"
done
pass "report on two runs: both columns, with their numbers"

# A document with step-breakers and a history, beside a real run.
"$top_builddir/tests/schema/stats_sample" "$TMP/full.json" || fail "stats_sample"
gs report --svg "$TMP/steps.svg" "$TMP/full.json" "$TMP/regular.json" >"$TMP/rep" ||
    fail "report --svg"
row "top step-breakers" | grep -q '^1\. failed cuGraphInstantiateWithFlags x15 ' || fail "top breaker: $(row "top step-breakers")"
grep -q "^  1\. failed cuGraphInstantiateWithFlags: 15 times" "$TMP/rep" || fail "no breakdown of full.json"
grep -q "from sample_step (stats_sample) <- main (stats_sample)" "$TMP/rep" || fail "no callers"
grep -q "attribute CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION: twice" "$TMP/rep" || fail "attribute not named"
[ -s "$TMP/steps.svg" ] || fail "no SVG written"
if command -v python3 >/dev/null 2>&1; then
    # One bar per step kept, in both files (the real run's history too).
    kept=$(( $(stats_get "$TMP/full.json" history.kept) + $(stats_get "$TMP/regular.json" history.kept) ))
    python3 - "$TMP/steps.svg" "$kept" <<'PY' || fail "the SVG is not well-formed, or lacks its bars"
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
ns = "{http://www.w3.org/2000/svg}"
assert root.tag == ns + "svg", root.tag
bars = [r for r in root.iter(ns + "rect") if r.find(ns + "title") is not None]
assert len(bars) == int(sys.argv[2]), (len(bars), sys.argv[2])
assert any("cut by barrier" in r.find(ns + "title").text for r in bars)
PY
elif command -v xmllint >/dev/null 2>&1; then
    xmllint --noout "$TMP/steps.svg" || fail "the SVG is not well-formed"
else
    echo "neither python3 nor xmllint: the SVG's well-formedness is not checked"
fi
pass "report --svg: step-breakers with callers; a well-formed SVG with a bar per step kept"

# An older file: calls and totals only.
printf '{"graphshim":"0.0.9","pid":7,"mode":"replay","calls":{},\n"totals":{"calls":3,"ops":10,"ops_replayed":5}}\n' >"$TMP/old.json"
gs report "$TMP/old.json" --svg "$TMP/old.svg" >"$TMP/rep" || fail "report on an old file"
row replayed | grep -q '^5 (50.0%)' || fail "old file: $(row replayed)"
row "top step-breakers" | grep -q "not in this file" || fail "old file: breakers row"
grep -q 'no history in this file' "$TMP/old.svg" || fail "old file: SVG"

# Errors: one line, exit 2.
err_case() {
    rc=0
    gs report "$@" >"$TMP/out" 2>"$TMP/err" || rc=$?
    expect_eq "report $*: exit status" "$rc" 2
    expect_eq "report $*: lines on stderr" "$(wc -l <"$TMP/err")" 1
}
err_case
err_case "$TMP/none.json"
echo '{"not":"stats"}' >"$TMP/other.json"; err_case "$TMP/other.json"
echo '{"totals":{' >"$TMP/broken.json"; err_case "$TMP/broken.json"
err_case --frobnicate "$TMP/old.json"
err_case --svg
pass "report reads older files, and refuses what it cannot read in one line"
