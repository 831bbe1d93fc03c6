#!/usr/bin/env bash
# luncloned --check: exit 0 for a valid file (nothing on stderr), 1 for an
# invalid one with one "FILE: $.path: problem" line per problem, 2 for bad
# usage; and config/lunclone.schema.json accepts the examples in config/ and
# refuses what the daemon refuses for the same reason (an unknown key).
# Usage: check.sh LUNCLONED CONFIG_DIR
set -euo pipefail
luncloned=${1:?usage: check.sh LUNCLONED CONFIG_DIR}
config_dir=${2:?usage: check.sh LUNCLONED CONFIG_DIR}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

truncate -s 1M "$tmp/src.img" "$tmp/dst.img"
cat >"$tmp/good.json" <<JSON
{ "version": 1,
  "sessions": [ { "name": "vol1", "source": "$tmp/src.img", "destination": "$tmp/dst.img",
                  "metadata": "$tmp/vol1.meta" } ],
  "targets": [ { "iqn": "iqn.2025-01.com.example:t1",
                 "tpgs": [ { "portals": ["127.0.0.1"], "open_access": true,
                             "luns": [ { "lun": 0, "session": "vol1" } ] } ] } ] }
JSON
"$luncloned" --check "$tmp/good.json" 2>"$tmp/err" || fail "valid file: exit $?"
[ ! -s "$tmp/err" ] || fail "valid file: stderr: $(cat "$tmp/err")"
"$luncloned" --config "$tmp/good.json" --check || fail "--config FILE --check"
# --check changed nothing: the metadata file was not created.
[ ! -e "$tmp/vol1.meta" ] || fail "--check created the metadata file"

sed -e 's/"vol1" }/"vol9" }/' -e 's/"version": 1/"version": 1, "extra": 2/' \
	"$tmp/good.json" >"$tmp/bad.json"
rc=0
"$luncloned" --check "$tmp/bad.json" 2>"$tmp/err" || rc=$?
[ "$rc" -eq 1 ] || fail "invalid file: exit $rc, expected 1"
grep -qxF "$tmp/bad.json: \$.extra: unknown key (expected one of: version, description, secrets_file, state_directory, defaults, sessions, targets)" "$tmp/err" ||
	fail "no unknown-key line: $(cat "$tmp/err")"
grep -qxF "$tmp/bad.json: \$.targets[0].tpgs[0].luns[0].session: no session named 'vol9'" "$tmp/err" ||
	fail "no reference line: $(cat "$tmp/err")"
[ "$(wc -l <"$tmp/err")" -eq 2 ] || fail "expected 2 lines: $(cat "$tmp/err")"

rc=0
"$luncloned" --check "$tmp/missing.json" 2>/dev/null || rc=$?
[ "$rc" -eq 1 ] || fail "missing file: exit $rc, expected 1"
for args in "--bogus" "--check a b" "$tmp/good.json" "--check --once"; do
	rc=0
	# shellcheck disable=SC2086
	"$luncloned" $args >/dev/null 2>&1 || rc=$?
	[ "$rc" -eq 2 ] || fail "usage '$args': exit $rc, expected 2"
done

# The schema and the examples (python3-jsonschema, scripts/install-deps.sh).
python3 -c 'import jsonschema' 2>/dev/null ||
	fail "python3 module jsonschema missing: apt-get install python3-jsonschema"
python3 - "$config_dir" <<'PY'
import json, sys, jsonschema
d = sys.argv[1]
schema = json.load(open(d + "/lunclone.schema.json"))
v = jsonschema.Draft202012Validator
v.check_schema(schema)
for f in ("single-lun-migration.json", "golden-image.json"):
    v(schema).validate(json.load(open(d + "/" + f)))
doc = json.load(open(d + "/golden-image.json"))
doc["sessions"][0]["destnation"] = "/dev/x"
if v(schema).is_valid(doc):
    sys.exit("schema accepts an unknown session key")
PY
echo "check.sh: ok"
