#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Tests of tools/pq and tools/fetch-upstream, on a scratch clone of this
# repository with its own build directory (the real build/src is never
# touched). The fetched base is shared read-only through a symlink.
#
# Prints TAP lines and "tools: N passed, N failed".
set -uo pipefail

TOP=$(cd "$(dirname "$0")/../.." && pwd)
REAL_UPSTREAM=$TOP/build/upstream
[ -d "$REAL_UPSTREAM/base.git" ] || { echo "run 'tools/pq import' (make src) first" >&2; exit 1; }

scratch=$(mktemp -d "$TOP/build/test-pq.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
git clone -q "$TOP" "$scratch/repo"
# Uncommitted changes to tools/ and patches/ are what is under test.
cp -a "$TOP/tools/." "$scratch/repo/tools/"
rm -rf "$scratch/repo/patches"
cp -a "$TOP/patches" "$scratch/repo/patches"
cp "$TOP/UPSTREAM" "$scratch/repo/UPSTREAM"
(cd "$scratch/repo" && git add -A && git -c user.name=t -c user.email=t@t \
    commit -qm "state under test" --allow-empty)
repo=$scratch/repo
mkdir -p "$repo/build"
ln -s "$REAL_UPSTREAM" "$repo/build/upstream"

. "$(dirname "$0")/tap.sh"
# expect_fail_line NAME PATTERN CMD...: CMD fails with exactly one line of
# output on stderr, and that line matches PATTERN.
expect_fail_line() {
    local name=$1 pattern=$2 out rc
    shift 2
    out=$("$@" 2>&1 >/dev/null); rc=$?
    if [ "$rc" != 0 ] && [ "$(printf '%s\n' "$out" | grep -v '^[a-z-]*: \(updating\|downloading\|committing\|unpacking\)' | wc -l)" = 1 ] &&
       printf '%s\n' "$out" | grep -q -- "$pattern"; then
        result 0 "$name"
    else
        result 1 "$name" "rc=$rc, output: $(printf '%s' "$out" | tr '\n' '|')"
    fi
}

# 1-2. import + export leaves the project clean, twice in a row.
for round in 1 2; do
    (cd "$repo" && tools/pq import >/dev/null 2>&1 && tools/pq export >/dev/null 2>&1)
    rc=$?
    st=$(cd "$repo" && git status --porcelain)
    [ "$rc" = 0 ] && [ -z "$st" ]
    result $? "import + export leaves git status clean (round $round)" "rc=$rc $st"
done

# 3. Same base + series => same HEAD hash.
h1=$(git -C "$repo/build/src" rev-parse HEAD)
(cd "$repo" && tools/pq import >/dev/null 2>&1)
h2=$(git -C "$repo/build/src" rev-parse HEAD)
[ "$h1" = "$h2" ]
result $? "import is reproducible (same HEAD $h1)" "$h1 vs $h2"

# 4. pq check passes on the committed series.
(cd "$repo" && tools/pq check >/dev/null 2>&1)
result $? "pq check passes on patches/"

# 5. import refuses to drop a local commit.
(cd "$repo/build/src" && echo x >>README.rst && git -c user.name=t -c user.email=t@t commit -qam "local")
expect_fail_line "import refuses to drop unexported commits" "tools/pq export" \
    bash -c "cd '$repo' && tools/pq import"
(cd "$repo" && tools/pq import --force >/dev/null 2>&1)

# 6. A new source file without SPDX fails pq check (checkpatch misses the
#    last new file of a patch).
(cd "$repo/build/src" && printf '#include "qemu/osdep.h"\n' >migration/new-file.c &&
    git add migration/new-file.c &&
    git -c user.name=t -c user.email=t@t commit -qm "migration: add a file" -m "Signed-off-by: t <t@t>" &&
    cd "$repo" && tools/pq export >/dev/null 2>&1)
out=$(cd "$repo" && tools/pq check 2>&1); rc=$?
[ "$rc" != 0 ] && printf '%s\n' "$out" | grep -q "new file migration/new-file.c has no SPDX"
result $? "pq check fails a new file without SPDX" "$(printf '%s' "$out" | tail -n 3 | tr '\n' '|')"
(cd "$repo" && git checkout -q -- patches && git clean -qfd patches && tools/pq import --force >/dev/null 2>&1)

# 7. A patch that no longer applies: one line naming the fix; build/src is
#    kept as it was and the failed tree is not build/src.
first=$(grep -v '^\(#\|$\)' "$repo/patches/series" | head -n 1)
if [ -n "$first" ]; then
    before=$(git -C "$repo/build/src" rev-parse HEAD)
    # The first removed line of the first hunk (the commit message may have
    # lines that start with "-" too).
    awk '!done && hunk && /^-[^-]/ { $0 = $0 " BROKEN"; done = 1 }
         /^@@/ { hunk = 1 } { print }' "$repo/patches/$first" >"$scratch/broken.patch"
    cp "$scratch/broken.patch" "$repo/patches/$first"
    expect_fail_line "a patch that does not apply fails with one line naming the fix" \
        "does not apply.*tools/pq export" bash -c "cd '$repo' && tools/pq import --force"
    after=$(git -C "$repo/build/src" rev-parse HEAD)
    [ "$before" = "$after" ] && [ ! -e "$repo/build/src.new" ] && [ -d "$repo/build/src.failed" ]
    result $? "a failed import leaves build/src untouched"
    (cd "$repo" && git checkout -q -- patches)
fi

# 8-10. fetch-upstream failures, each in a build dir of its own so the
#       shared base is never at risk.
fetchdir=$scratch/fetch
mkdir -p "$fetchdir"
cp -a "$repo/tools" "$fetchdir/"
sed 's/^SRC_VERSION=.*/SRC_VERSION=1:10.0.99+ds-0+deb13u9/' "$repo/UPSTREAM" >"$fetchdir/UPSTREAM"
expect_fail_line "a pinned version missing from the archive names QEMU_SRC" \
    "no longer in Debian's archive.*QEMU_SRC=" "$fetchdir/tools/fetch-upstream"
[ ! -e "$fetchdir/build/upstream/src" ] && [ ! -e "$fetchdir/build/upstream/src.stamp" ]
result $? "... and leaves no base tree behind"

sed 's/^DSC_SHA256=.*/DSC_SHA256=0000000000000000000000000000000000000000000000000000000000000000/' \
    "$repo/UPSTREAM" >"$fetchdir/UPSTREAM"
expect_fail_line "a checksum mismatch fails with one line" \
    "checksum mismatch for qemu_.*dsc" "$fetchdir/tools/fetch-upstream"
[ ! -e "$fetchdir/build/upstream/src" ] && [ ! -e "$fetchdir/build/upstream/src.stamp" ]
result $? "... and leaves no base tree behind"

expect_fail_line "QEMU_SRC that is not a QEMU tree fails with one line" \
    "is not an unpacked QEMU tree" env QEMU_SRC=/nonexistent "$fetchdir/tools/fetch-upstream"

tap_end tools
