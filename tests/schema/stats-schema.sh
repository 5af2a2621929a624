#!/bin/sh
# stats-schema.sh: the statistics the shim writes (GRAPHSHIM_STATS_FILE)
# follow doc/stats.schema.json: the output of real runs on the simulated
# driver (sim-decode, and the replay scenarios), and a document with every
# section filled (stats_sample). The validator is checked too: documents
# that break the schema in each way it can be broken must fail, and a
# schema using a keyword it does not implement is refused. Where python3
# has jsonschema, it checks the schema against the 2020-12 meta-schema and
# must agree with the validator on every document.
. "${top_srcdir:-.}/tests/env.sh"
V="$top_builddir/tests/schema/json_validate"
S="$top_srcdir/doc/stats.schema.json"
pyjs=
if command -v python3 >/dev/null 2>&1 && python3 -c 'import jsonschema' 2>/dev/null; then
    pyjs=1
    python3 - "$S" <<'PY' || fail "the schema is not a valid 2020-12 schema"
import json, sys, jsonschema
jsonschema.Draft202012Validator.check_schema(json.load(open(sys.argv[1])))
PY
fi
# py_valid DOC: 0 if python's jsonschema accepts DOC.
py_valid() {
    python3 - "$S" "$1" <<'PY'
import json, sys, jsonschema
s = json.load(open(sys.argv[1]))
try:
    d = json.load(open(sys.argv[2]))
except ValueError:
    sys.exit(2)
sys.exit(0 if jsonschema.Draft202012Validator(s).is_valid(d) else 1)
PY
}
# valid DOC WHAT: both validators accept DOC.
valid() {
    "$V" "$S" "$1" >"$TMP/v.out" 2>&1 || fail "$2: invalid: $(head -5 "$TMP/v.out")"
    [ -z "$pyjs" ] || py_valid "$1" || fail "$2: python's jsonschema disagrees"
}
# invalid DOC WHAT: both validators reject DOC (exit 1, or 2 for a document
# that is no JSON at all).
invalid() {
    rc=0; "$V" "$S" "$1" >"$TMP/v.out" 2>&1 || rc=$?
    [ "$rc" = 1 ] || [ "$rc" = 2 ] || fail "$2: accepted (exit $rc)"
    [ -n "${3:-}" ] && { grep -q "$3" "$TMP/v.out" || fail "$2: no message about $3: $(cat "$TMP/v.out")"; }
    [ -z "$pyjs" ] || { rc=0; py_valid "$1" || rc=$?; [ "$rc" != 0 ] || fail "$2: python's jsonschema accepts it"; }
    :
}

run_shim GRAPHSHIM_STATS_FILE="$TMP/sd.json" "$top_builddir/tools/sim-decode" --tokens=24 \
    --irregular=3 >/dev/null || fail "sim-decode under the shim"
valid "$TMP/sd.json" "sim-decode"
for sc in diverge capture allops; do
    run_shim GRAPHSHIM_STATS_FILE="$TMP/sc.json" "$E2E/prog_scenarios" $sc >/dev/null ||
        fail "prog_scenarios $sc under the shim"
    valid "$TMP/sc.json" "prog_scenarios $sc"
done
run_shim GRAPHSHIM_MODE=passthrough GRAPHSHIM_STATS_FILE="$TMP/pt.json" "$E2E/prog_paths" \
    --steps=3 >/dev/null || fail "passthrough run"
valid "$TMP/pt.json" "passthrough"
"$top_builddir/tests/schema/stats_sample" "$TMP/full.json" || fail "stats_sample"
valid "$TMP/full.json" "every section filled"
grep -q '"symbol":"sample_step"' "$TMP/full.json" || fail "the sample has no named caller"
grep -q '"outcome":"eager","reason":"' "$TMP/full.json" || fail "the sample has no history"
agree=""
[ -z "$pyjs" ] || agree=" (and the jsonschema module of python3 agrees)"
pass "real output (sim-decode, three replay scenarios, passthrough) and a full document follow the schema$agree"

# The validator rejects each kind of violation.
D="$TMP/full.json"
mutate() { sed "$1" "$D" >"$TMP/bad.json"; invalid "$TMP/bad.json" "$2" "${3:-}"; }
mutate 's/"schema_version":1/"schema_version":2/' "another schema version" "/schema_version"
mutate 's/"mode":"replay"/"mode":"fast"/' "an unknown mode" "/mode"
mutate 's/^"totals":/"totalz":/' "totals missing" "totals"
mutate 's/"ops_replayed":1200,"replayed_share"/"ops_replayed":-1,"replayed_share"/' "a negative count" "minimum"
mutate 's/"graphs_in_use":3/"graphs_in_use":"3"/' "a string for a number" "/findings/graphs_in_use"
mutate 's/"low_share":true}/"low_share":true,"extra":1}/' "an unknown member" "extra"
mutate 's/"replayed_share":0.24/"replayed_share":2.4/' "a share above 1" "maximum"
mutate '0,/"outcome":"eager"/s//"outcome":"bogus"/' "an unknown outcome" "outcome"
mutate 's/"cuLaunchKernel":{/"launch":{/' "a call that is no driver function" "member name"
mutate 's/"frames":\[{"library"/"frames":[{"lib"/' "a frame without its library" "library"
mutate 's/"kept":\([0-9]*\),"steps":\[/"kept":\1,"steps":{/; s/}]}}$/}}}}/' "broken JSON"
printf '{"graphshim":"0.1.0",}' >"$TMP/bad.json"; invalid "$TMP/bad.json" "a trailing comma"
printf '{"type":"object","unknownKeyword":1}' >"$TMP/odd.schema.json"
rc=0; "$V" "$TMP/odd.schema.json" "$D" >/dev/null 2>"$TMP/v.err" || rc=$?
expect_eq "a schema with a keyword the validator lacks: exit" "$rc" 2
grep -q 'unknownKeyword' "$TMP/v.err" || fail "the unknown keyword is not named"
pass "the validator rejects every kind of violation tried, and schemas it cannot check"
