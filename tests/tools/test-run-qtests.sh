#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Tests of tools/run-qtests with a stand-in migration-test (a script that
# sleeps, passes, fails or hangs as its -p path says) and a list of our
# own: two at a time, results in list order, a skipped entry last, the
# time limit, and nothing left running.
#
# Prints TAP lines and "run-qtests: N passed, N failed".
set -uo pipefail

TOP=$(cd "$(dirname "$0")/../.." && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

. "$(dirname "$0")/tap.sh"

qtest=$scratch/qemu/tests/qtest
mkdir -p "$qtest"
cat >"$qtest/migration-test" <<'EOS'
#!/bin/sh
# -p /x86_64/PATH: /slow sleeps 2 s, /fails fails, /hang hangs.
path=
while [ $# -gt 0 ]; do [ "$1" = -p ] && path=$2; shift; done
echo "$$" >>"$PIDS"
case $path in
*/slow) sleep 2 ;;
*/fails) echo "not ok 1 $path"; exit 1 ;;
*/hang) sleep 600 ;;
esac
echo "ok 1 $path"
EOS
chmod +x "$qtest/migration-test"
export PIDS=$scratch/pids QTESTS_NO_HW=1 BUILD_DIR=$scratch/build

# run LIST: run-qtests tcg on that list (one entry a line); its output in
# $out, its status in $rc.
run() {
    printf '%s\n' "$@" >"$scratch/list"
    : >"$PIDS"
    out=$(QTESTS_LIST=$scratch/list QTEST_JOBS=2 "$TOP/tools/run-qtests" tcg \
        "$scratch/qemu" 2>&1)
    rc=$?
}
lines() { printf '%s\n' "$out" | grep -E '^(not )?ok ' | sed 's/ (tcg.*//'; }

# 1. Two at a time, in list order although the first ends last, a failure
#    counted, a skipped -hw entry last.
run "tcg /slow slow" "tcg /fast fast" "tcg /fails fails" "tcg-hw /hw hardware only"
[ "$rc" != 0 ] &&
    [ "$(lines | tr '\n' '|')" = "ok 1 /slow|ok 2 /fast|not ok 3 /fails|ok 4 /hw|" ] &&
    printf '%s\n' "$out" | grep -q '^ok 4 /hw (tcg) # SKIP' &&
    printf '%s\n' "$out" | grep -q '^qtests-tcg: 2 passed, 1 failed, 1 skipped$'
result $? "results in list order, a failure counted, a -hw entry skipped" \
    "rc=$rc, output: $(printf '%s' "$out" | tr '\n' '|')"

# 2. A skipped entry last does not fail a run that passed (it did: the
#    runner ended before its summary).
run "tcg /fast fast" "tcg-hw /hw hardware only"
[ "$rc" = 0 ] && printf '%s\n' "$out" | grep -q '^qtests-tcg: 1 passed, 0 failed, 1 skipped$'
result $? "a skipped entry last leaves the run passed" \
    "rc=$rc, output: $(printf '%s' "$out" | tr '\n' '|')"

# 3. The time limit ends a hanging test, and nothing is left running.
printf '%s\n' "tcg /hang hangs" "tcg /fast fast" >"$scratch/list"
: >"$PIDS"
out=$(QTESTS_LIST=$scratch/list QTEST_TIME_LIMIT=2 QTEST_JOBS=2 \
    "$TOP/tools/run-qtests" tcg "$scratch/qemu" 2>&1)
rc=$?
left=
while read -r p; do kill -0 "$p" 2>/dev/null && left="$left $p"; done <"$PIDS"
[ "$rc" != 0 ] && [ -z "$left" ] &&
    printf '%s\n' "$out" | grep -q '^not ok 1 /hang (tcg, [0-9]*s, rc=timeout)' &&
    printf '%s\n' "$out" | grep -q '^ok 2 /fast'
result $? "a test over the time limit is killed with its group" \
    "rc=$rc, left running:$left, output: $(printf '%s' "$out" | tr '\n' '|')"

tap_end run-qtests
