#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# The set-up scripts fetch from the Debian archive this machine's apt uses
# (tools/lib.sh debian_archive), not from a fixed host: a machine behind a
# local mirror or proxy sets up from there. A test apt configuration
# (APT_CONFIG) stands in for the machine's, its sources pointing at
# archives that do not exist, so every fetch fails at once after the
# tool has written its private sources.list, which is what is checked.
#
# Prints TAP lines and "apt-archive: N passed, N failed".
set -uo pipefail

TOP=$(cd "$(dirname "$0")/../.." && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
. "$(dirname "$0")/tap.sh"

# An apt configuration of its own in $1 (sources.list and sources.list.d).
apt_config() {
    mkdir -p "$1/sources.list.d" "$1/lists/partial"
    : >"$1/sources.list"
    cat >"$1/apt.conf" <<EOC
Dir::Etc::sourcelist "$1/sources.list";
Dir::Etc::sourceparts "$1/sources.list.d";
Dir::State::lists "$1/lists";
EOC
}
archive_of() {
    APT_CONFIG=$1/apt.conf bash -c ". '$TOP/tools/lib.sh'; debian_archive ${2:-}"
}

# 1. One-line sources: a local mirror for bookworm, another host for security.
one=$scratch/one
apt_config "$one"
cat >"$one/sources.list" <<'EOS'
deb file:///srv/mirror/debian/ bookworm main
deb file:///srv/mirror/debian/ bookworm-updates main
deb http://security.mirror.test/debian-security bookworm-security main
EOS
got=$(archive_of "$one")
# apt writes file:/// URIs as file:/ (the same place).
[ "$got" = file:/srv/mirror/debian ]
result $? "the archive is the machine's bookworm source (one-line sources.list)" "got $got"
got=$(archive_of "$one" security)
[ "$got" = http://security.mirror.test/debian-security ]
result $? "the security archive is the machine's bookworm-security source" "got $got"

# 2. deb822 sources in sources.list.d, behind a caching proxy.
deb822=$scratch/deb822
apt_config "$deb822"
cat >"$deb822/sources.list.d/debian.sources" <<'EOS'
Types: deb
URIs: http://proxy.test:3142/debian
Suites: bookworm bookworm-updates
Components: main
EOS
got=$(archive_of "$deb822")
[ "$got" = http://proxy.test:3142/debian ]
result $? "deb822 sources in sources.list.d are read" "got $got"

# 3. The override variables win; with no source at all, deb.debian.org.
got=$(DEBIAN_MIRROR=http://override.test/debian/ archive_of "$one")
[ "$got" = http://override.test/debian ]
result $? "DEBIAN_MIRROR overrides the machine's source" "got $got"
got=$(DEBIAN_SECURITY_MIRROR=http://override.test/sec archive_of "$one" security)
[ "$got" = http://override.test/sec ]
result $? "DEBIAN_SECURITY_MIRROR overrides the machine's security source" "got $got"
empty=$scratch/empty
apt_config "$empty"
got=$(archive_of "$empty")/$(archive_of "$empty" security)
[ "$got" = http://deb.debian.org/debian/http://deb.debian.org/debian-security ]
result $? "no Debian source on the machine: deb.debian.org" "got $got"

# 4. fetch-upstream's private sources (trixie) come from that archive.
build=$scratch/build-fetch
out=$(APT_CONFIG=$one/apt.conf BUILD_DIR=$build "$TOP/tools/fetch-upstream" 2>&1)
rc=$?
list=$build/upstream/apt/sources.list
[ "$rc" != 0 ] &&
    grep -qx "deb-src file:/srv/mirror/debian trixie main" "$list" &&
    grep -qx "deb-src http://security.mirror.test/debian-security trixie-security main" "$list" &&
    ! grep -q deb.debian.org "$list"
result $? "fetch-upstream fetches trixie's source from the machine's archive" \
    "rc=$rc, $(tr '\n' '|' <"$list" 2>/dev/null), output: $(printf '%s' "$out" | tail -n 2 | tr '\n' '|')"

# 5. build-guest's kernel comes from it too.
build=$scratch/build-guest
out=$(APT_CONFIG=$deb822/apt.conf BUILD_DIR=$build "$TOP/tools/build-guest" 2>&1)
rc=$?
list=$build/guest/apt/sources.list
[ "$rc" != 0 ] &&
    grep -qx "deb http://proxy.test:3142/debian bookworm main" "$list" &&
    grep -qx "deb http://deb.debian.org/debian-security bookworm-security main" "$list"
result $? "build-guest fetches the kernel from the machine's archive" \
    "rc=$rc, $(tr '\n' '|' <"$list" 2>/dev/null), output: $(printf '%s' "$out" | tail -n 2 | tr '\n' '|')"

tap_end apt-archive
