# SPDX-License-Identifier: GPL-2.0-or-later
# TAP helpers for tests/tools/test-*.sh. Source it.

pass=0 fail=0 n=0

# result STATUS NAME [DETAIL]: "ok N - NAME" when STATUS is 0, else
# "not ok N - NAME" and DETAIL as a comment.
result() {
    n=$((n + 1))
    if [ "$1" = 0 ]; then
        pass=$((pass + 1)); echo "ok $n - $2"
    else
        fail=$((fail + 1)); echo "not ok $n - $2"
        [ -n "${3:-}" ] && printf '#   %s\n' "$3"
    fi
}

# tap_end LABEL: the plan, "LABEL: N passed, N failed", and the status.
tap_end() {
    echo "1..$n"
    echo "$1: $pass passed, $fail failed"
    [ "$fail" = 0 ]
}
