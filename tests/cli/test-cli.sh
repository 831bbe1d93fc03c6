#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# lunclone(8) end to end on regular files: format, hydrate, status, dump,
# check, verify, the refusals, the exit codes, and an interrupted hydration
# that resumes.
# Usage: tests/cli/test-cli.sh PATH_TO_LUNCLONE
set -euo pipefail

tmp=
cleanup() {
	local pid
	for pid in $(jobs -p); do kill "$pid" 2>/dev/null || true; done
	[ -z "$tmp" ] || rm -rf "$tmp"
}
trap cleanup EXIT

LC=${1:?usage: test-cli.sh PATH_TO_LUNCLONE}
[ -x "$LC" ] || { echo "test-cli: '$LC': not an executable (build lunclone first)" >&2; exit 1; }
for tool in cmp dd head truncate stat grep timeout; do
	command -v "$tool" >/dev/null || { echo "test-cli: '$tool' is missing" >&2; exit 1; }
done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/lunclone-cli.XXXXXX")
out=$tmp/out err=$tmp/err

nr_pass=0
fail() {
	echo "FAIL: $*" >&2
	echo "--- stdout:" >&2; cat "$out" >&2 || true
	echo "--- stderr:" >&2; cat "$err" >&2 || true
	exit 1
}
pass() { nr_pass=$((nr_pass + 1)); echo "ok $nr_pass - $*"; }

# run EXPECTED_EXIT DESCRIPTION -- COMMAND...: stdout in $out, stderr in $err.
run() {
	local want=$1 what=$2 rc=0
	shift 3
	"$@" >"$out" 2>"$err" || rc=$?
	[ "$rc" -eq "$want" ] || fail "$what: exit $rc, expected $want (${*})"
}
expect_out() { grep -qF -- "$1" "$out" || fail "stdout lacks '$1'"; }
expect_err() { grep -qF -- "$1" "$err" || fail "stderr lacks '$1'"; }
expect_err_line() { # the runtime error format: "lunclone: <verb>: '<object>': <reason>"
	grep -qE "^lunclone: $1: '[^']+': .+" "$err" || fail "stderr lacks a '$1' error line"
}
# flip BYTES at OFFSET of FILE (xor 0xff), in place.
flip() {
	local file=$1 offset=$2 count=${3:-4} bytes
	bytes=$(dd if="$file" bs=1 skip="$offset" count="$count" status=none | od -An -tu1)
	# shellcheck disable=SC2059 # the format is the octal escape of the byte
	for b in $bytes; do printf "\\$(printf '%03o' $((b ^ 255)))"; done |
		dd of="$file" bs=1 seek="$offset" conv=notrunc status=none
}

# --- Files: a source whose size is not a multiple of the region size.
R=65536
SIZE=$((17 * R - 25 * 512)) # 17 regions, the last one partial (sizes are in sectors)
NR=17
head -c "$SIZE" /dev/urandom >"$tmp/src"
truncate -s "$SIZE" "$tmp/dst"
src=$tmp/src dst=$tmp/dst meta=$tmp/meta

# --- Help and usage errors (exit 2).
run 0 "lunclone --help" -- "$LC" --help
expect_out "Usage: lunclone <verb>"
for verb in format hydrate status check dump verify; do
	run 0 "$verb --help" -- "$LC" "$verb" --help
	expect_out "Usage: lunclone $verb"
done
run 2 "no verb" -- "$LC"
run 2 "unknown verb" -- "$LC" frobnicate
expect_err "unknown verb 'frobnicate'"
run 2 "format without --meta" -- "$LC" format --source "$src" --dest "$dst"
expect_err "--source, --dest and --meta are required"
run 2 "unknown option" -- "$LC" status --meta "$meta" --frobnicate
expect_err "unknown or ambiguous option '--frobnicate'"
run 2 "unknown short option" -- "$LC" status -Z --meta "$meta"
expect_err "unknown option '-Z'"
run 2 "missing option value" -- "$LC" status --meta
expect_err "option '--meta' needs a value"
run 2 "extra operand" -- "$LC" status --meta "$meta" extra
expect_err "unexpected argument 'extra'"
run 2 "option given twice" -- "$LC" status --meta "$meta" --meta "$meta"
expect_err "given twice"
run 2 "region size not a power of two" -- \
	"$LC" format -s "$src" -d "$dst" -m "$meta" --region-size 3000
expect_err "not a power of two"
run 2 "region size too small" -- "$LC" format -s "$src" -d "$dst" -m "$meta" -r 256
run 2 "region size with junk suffix" -- "$LC" format -s "$src" -d "$dst" -m "$meta" -r 64X
expect_err "--region-size '64X'"
run 2 "region size overflowing" -- \
	"$LC" format -s "$src" -d "$dst" -m "$meta" -r 99999999999999999999K
expect_err "out of range"
run 2 "zero workers" -- "$LC" hydrate -s "$src" -d "$dst" -m "$meta" --workers 0
expect_err "--workers '0'"
run 2 "junk workers" -- "$LC" hydrate -s "$src" -d "$dst" -m "$meta" --workers 4x
run 2 "negative rate" -- "$LC" hydrate -s "$src" -d "$dst" -m "$meta" --rate -1
expect_err "--rate '-1'"
run 2 "empty batch" -- "$LC" hydrate -s "$src" -d "$dst" -m "$meta" --batch ""
run 2 "ctl watch: interval out of range" -- "$LC" ctl --socket "$tmp/no.sock" --interval 5 watch
expect_err "--interval '5'"
run 2 "ctl: --interval without watch" -- "$LC" ctl --socket "$tmp/no.sock" -i 500 status
expect_err "--interval goes with watch only"
run 2 "ctl: unknown command" -- "$LC" ctl --socket "$tmp/no.sock" frob
expect_err "status, pause, resume, throttle, watch"
run 1 "ctl watch: no clone behind the socket" -- "$LC" ctl --socket "$tmp/no.sock" watch
expect_err "is the clone's LUN open in tcmu-runner?"
[ ! -e "$meta" ] || fail "a usage error created '$meta'"
pass "help and usage errors"

# An iscsi:// source that cannot be reached: every verb names it without
# its password (nothing listens on port 1 of loopback).
url='iscsi://u%secretpw@127.0.0.1:1/iqn.2026-11.test:none/1?timeout=1'
for verb in check verify; do
	run 1 "$verb with an unreachable iscsi:// source" -- \
		timeout 60 "$LC" "$verb" --source "$url" --dest "$tmp/dst" --meta "$tmp/nometa"
	expect_err "iscsi://u%***@127.0.0.1:1/"
	! grep -q secretpw "$err" || fail "$verb printed the URL's password"
done
pass "iscsi:// passwords never printed"

# --- Destination smaller than the source: refused, nothing created.
truncate -s $((SIZE - 1)) "$tmp/small"
run 1 "format onto a smaller destination" -- "$LC" format -s "$src" -d "$tmp/small" -m "$meta"
expect_err_line format
expect_err "destination is smaller than the source"
[ ! -e "$meta" ] || fail "a refused format left '$meta' behind"
run 1 "hydrate onto a smaller destination" -- \
	"$LC" hydrate --format -q -s "$src" -d "$tmp/small" -m "$meta"
expect_err "destination is smaller than the source"
pass "smaller destination refused"

# --- Missing files are runtime errors (exit 1) naming the object.
run 1 "status of a missing store" -- "$LC" status --meta "$tmp/nonexistent"
expect_err "lunclone: status: '$tmp/nonexistent'"
run 1 "format from a missing source" -- "$LC" format -s "$tmp/nonexistent" -d "$dst" -m "$meta"
expect_err_line format
head -c 1000 /dev/zero >"$tmp/odd"
run 1 "format of a source that is not whole sectors" -- "$LC" format -s "$tmp/odd" -d "$dst" -m "$meta"
expect_err "not a multiple of 512"
[ ! -e "$meta" ] || fail "a refused format left '$meta' behind"
run 1 "format onto its own source" -- "$LC" format -s "$src" -d "$src" -m "$meta"
expect_err "same file as the source"
run 1 "format with the store on the destination" -- "$LC" format -s "$src" -d "$dst" -m "$dst"
expect_err "same file as the destination"
run 1 "hydrate onto its own source" -- "$LC" hydrate -q -s "$src" -d "$src" -m "$meta"
expect_err "same file as the source"
run 1 "status of a file that is no store" -- "$LC" status --meta "$src"
expect_err "not a lunclone metadata store"
pass "runtime errors"

# --- format: creates the store; refuses to overwrite it without --force.
run 0 "format" -- "$LC" format --source "$src" --dest "$dst" --meta "$meta" --region-size 64K
expect_out "$NR regions of $R bytes"
[ -s "$meta" ] || fail "format did not create '$meta'"
run 1 "format over a valid store" -- "$LC" format -s "$src" -d "$dst" -m "$meta"
expect_err "holds a valid metadata store"
expect_err "--force"
run 0 "format --force" -- "$LC" format -s "$src" -d "$dst" -m "$meta" --force -q
[ ! -s "$out" ] || fail "format --quiet printed something"
pass "format, refusal without --force, --force"

# --- status and dump of a fresh store.
run 0 "status" -- "$LC" status --meta "$meta"
expect_out "version:"
expect_out "region size:      $R bytes"
expect_out "source size:      $SIZE bytes"
expect_out "destination size: $SIZE bytes"
expect_out "regions:          0/$NR hydrated (0.0%)"
expect_out "source id:        none"
grep -qE '^uuid: +[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' "$out" ||
	fail "status: no uuid line"
run 0 "dump" -- "$LC" dump --meta "$meta"
[ "$(cat "$out")" = "{\"region_size\":$R,\"nr_regions\":$NR,\"hydrated\":[]}" ] ||
	fail "dump of a fresh store"
pass "status and dump of a fresh store"

# --- hydrate, then the copy is exact.
run 0 "hydrate" -- "$LC" hydrate --source "$src" --dest "$dst" --meta "$meta" --workers 3 --batch 2
expect_out "hydrated '$dst': $NR regions"
[ ! -s "$err" ] || fail "hydrate wrote to stderr when it is not a terminal"
cmp "$src" "$dst" || fail "destination differs from the source after hydrate"
pass "hydrate: destination == source (partial last region)"

run 0 "status after hydrate" -- "$LC" status --meta "$meta"
expect_out "regions:          $NR/$NR hydrated (100.0%)"
expect_out "shutdown:         clean"
run 0 "status --json" -- "$LC" status --meta "$meta" --json
expect_out "\"nr_regions\": $NR"
expect_out "\"nr_hydrated\": $NR"
expect_out "\"percent\": 100.0"
expect_out "\"region_size\": $R"
expect_out "\"source_size\": $SIZE"
expect_out "\"clean\": true"
expect_out "\"source_id\": null"
run 0 "dump after hydrate" -- "$LC" dump --meta "$meta"
[ "$(cat "$out")" = "{\"region_size\":$R,\"nr_regions\":$NR,\"hydrated\":[[0,$((NR - 1))]]}" ] ||
	fail "dump after hydrate"
pass "status, status --json and dump after hydrate"

# A second hydrate of a complete clone has nothing to do.
run 0 "hydrate of a complete clone" -- "$LC" hydrate -q -s "$src" -d "$dst" -m "$meta"
[ ! -s "$out" ] || fail "hydrate --quiet printed something"
pass "hydrate of a complete clone"

# --- check.
run 0 "check" -- "$LC" check --meta "$meta"
[ "$(cat "$out")" = ok ] || fail "check did not print ok"
run 0 "check with devices" -- "$LC" check --meta "$meta" --source "$src" --dest "$dst"
expect_out ok
head -c $((SIZE + 512)) /dev/zero >"$tmp/other"
run 1 "check against a source of another size" -- "$LC" check -m "$meta" -s "$tmp/other"
expect_err_line check
pass "check of a good store"

# --- verify: clean, then with a corrupted destination region and partial last one.
run 0 "verify" -- "$LC" verify --source "$src" --dest "$dst" --meta "$meta"
expect_out "0 of $NR hydrated regions differ"
cp "$dst" "$tmp/dst.bad"
flip "$tmp/dst.bad" $((3 * R + 100)) 1
flip "$tmp/dst.bad" $((SIZE - 1)) 1
run 1 "verify a corrupted destination" -- "$LC" verify -s "$src" -d "$tmp/dst.bad" -m "$meta"
expect_out "region 3 (bytes $((3 * R))-$((4 * R - 1))) differs"
expect_out "region $((NR - 1)) (bytes $(((NR - 1) * R))-$((SIZE - 1))) differs"
expect_out "2 of $NR hydrated regions differ"
pass "verify detects corrupted regions, partial last one included"

# --- check on corrupted stores.
cp "$meta" "$tmp/meta.bad"
# Superblock slots: blocks 0 and 1 of the store (lib/meta.c), checksummed.
for off in 0 4096; do flip "$tmp/meta.bad" $((off + 64)) 8; done
run 1 "check with both superblocks corrupted" -- "$LC" check --meta "$tmp/meta.bad"
expect_err_line check
! grep -qx ok "$out" || fail "check printed ok for a corrupted store"
run 1 "status of a corrupted store" -- "$LC" status --meta "$tmp/meta.bad"
expect_err_line status
pass "check rejects a store whose superblocks are both corrupted"

# --- hydrate --format onto a larger destination with 4K regions.
truncate -s $((SIZE + 3 * 4096 + 512)) "$tmp/dst2"
run 0 "hydrate --format" -- \
	"$LC" hydrate --format -s "$src" -d "$tmp/dst2" -m "$tmp/meta2" -r 4K -w 1 --batch 1
expect_out "formatted '$tmp/meta2'"
cmp -n "$SIZE" "$src" "$tmp/dst2" || fail "hydrate --format: destination differs"
run 0 "verify 4K" -- "$LC" verify -s "$src" -d "$tmp/dst2" -m "$tmp/meta2"
expect_out "0 of $(((SIZE + 4095) / 4096)) hydrated regions differ"
# --format keeps a valid store; a region size that disagrees with it is refused.
run 0 "hydrate --format of a valid store" -- \
	"$LC" hydrate --format -q -s "$src" -d "$tmp/dst2" -m "$tmp/meta2"
run 1 "hydrate with another region size" -- \
	"$LC" hydrate -q -s "$src" -d "$tmp/dst2" -m "$tmp/meta2" -r 8K
expect_err_line hydrate
pass "hydrate --format, larger destination, 4K regions"

# --- Interrupted hydration commits its progress and resumes.
BIG=$((8 << 20))
head -c "$BIG" /dev/urandom >"$tmp/src3"
truncate -s "$BIG" "$tmp/dst3"
run 0 "format 3" -- "$LC" format -q -s "$tmp/src3" -d "$tmp/dst3" -m "$tmp/meta3"
run 1 "interrupted hydrate" -- timeout --preserve-status -s INT 2 \
	"$LC" hydrate -s "$tmp/src3" -d "$tmp/dst3" -m "$tmp/meta3" --rate 1 -w 1
expect_err "lunclone: hydrate: '$tmp/dst3': interrupted by Interrupt"
expect_err "progress committed"
run 0 "status after interrupt" -- "$LC" status -m "$tmp/meta3"
expect_out "shutdown:         clean"
done_regions=$(sed -n 's/^regions: *\([0-9]*\)\/.*/\1/p' "$out")
if [ "$done_regions" -eq 0 ] || [ "$done_regions" -ge 128 ]; then
	fail "interrupted hydrate: $done_regions of 128 regions hydrated"
fi
run 0 "verify partial" -- "$LC" verify -s "$tmp/src3" -d "$tmp/dst3" -m "$tmp/meta3"
expect_out "0 of $done_regions hydrated regions differ"
run 1 "hydrate stopped by SIGTERM" -- timeout --preserve-status -s TERM 1 \
	"$LC" hydrate -s "$tmp/src3" -d "$tmp/dst3" -m "$tmp/meta3" --rate 1 -w 1
expect_err "interrupted by Terminated"
run 0 "resumed hydrate" -- "$LC" hydrate -q -s "$tmp/src3" -d "$tmp/dst3" -m "$tmp/meta3"
cmp "$tmp/src3" "$tmp/dst3" || fail "resumed hydrate: destination differs"
pass "SIGINT/SIGTERM commit progress; hydrate resumes ($done_regions/128 after the first)"

echo "test-cli: all $nr_pass groups passed"
