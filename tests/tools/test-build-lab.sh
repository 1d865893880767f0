#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Tests of tools/build-lab with stand-in cmake and ninja on PATH (nothing
# is compiled) and a build directory that does not exist yet, as on a
# fresh clone.
#
# Prints TAP lines and "build-lab: N passed, N failed".
set -uo pipefail

TOP=$(cd "$(dirname "$0")/../.." && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

. "$(dirname "$0")/tap.sh"

# Stand-ins: cmake makes build.ninja in its -B directory (or fails with
# CMAKE_FAIL set), ninja does nothing.
mkdir -p "$scratch/bin"
cat >"$scratch/bin/cmake" <<'EOS'
#!/bin/sh
if [ -n "${CMAKE_FAIL:-}" ]; then
    echo "CMake Error: $CMAKE_FAIL"
    exit 1
fi
while [ $# -gt 0 ]; do
    [ "$1" = -B ] && mkdir -p "$2" && : >"$2/build.ninja"
    shift
done
EOS
printf '#!/bin/sh\nexit 0\n' >"$scratch/bin/ninja"
chmod +x "$scratch/bin/cmake" "$scratch/bin/ninja"

# 1. A build directory that does not exist yet: build-lab creates it.
build=$scratch/fresh/build
out=$(PATH=$scratch/bin:$PATH BUILD_DIR=$build "$TOP/tools/build-lab" 2>&1)
rc=$?
[ "$rc" = 0 ] && [ -f "$build/lab.cmake.log" ] && [ -f "$build/lab/build.ninja" ]
result $? "build-lab works in a build directory that does not exist yet" \
    "rc=$rc, output: $(printf '%s' "$out" | tr '\n' '|')"

# 2. A cmake failure is one line that names the log and cmake's error.
build=$scratch/fresh2/build
out=$(PATH=$scratch/bin:$PATH BUILD_DIR=$build CMAKE_FAIL="no GTest" \
    "$TOP/tools/build-lab" 2>&1)
rc=$?
[ "$rc" != 0 ] && [ "$(printf '%s\n' "$out" | wc -l)" = 1 ] &&
    printf '%s\n' "$out" | grep -q "^build-lab: cmake failed: see .*lab.cmake.log (CMake Error: no GTest)$"
result $? "a cmake failure names its log and the error" \
    "rc=$rc, output: $(printf '%s' "$out" | tr '\n' '|')"

tap_end build-lab
