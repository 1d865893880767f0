# SPDX-License-Identifier: GPL-2.0-or-later
# Shared helpers for tools/*: repository paths, the UPSTREAM pin, errors.
# Source it; it defines no behaviour of its own.

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD_DIR:-$TOP/build}
UPSTREAM_DIR=$BUILD/upstream
BASE_TREE=$UPSTREAM_DIR/src
BASE_STAMP=$UPSTREAM_DIR/src.stamp
BASE_GIT=$UPSTREAM_DIR/base.git
PATCHES=$TOP/patches
SERIES=$PATCHES/series

# die MESSAGE: one line on stderr naming the tool, exit 1.
die() {
    printf '%s: %s\n' "${TOOL:-${0##*/}}" "$*" >&2
    exit 1
}

note() {
    printf '%s: %s\n' "${TOOL:-${0##*/}}" "$*" >&2
}

# upstream KEY: the value of KEY in UPSTREAM (whole line after '=').
upstream() {
    local v
    v=$(sed -n "s/^$1=//p" "$TOP/UPSTREAM" | tail -n 1)
    [ -n "$v" ] || die "UPSTREAM has no $1"
    printf '%s\n' "$v"
}

# The stamp that says a base tree is complete and what it is. A tree
# without a matching stamp is never trusted.
base_stamp_text() {
    if [ -n "${QEMU_SRC:-}" ]; then
        printf 'QEMU_SRC=%s\n' "$(cd "$QEMU_SRC" && pwd)"
    else
        printf '%s %s\n' "$(upstream SRC_VERSION)" "$(upstream DSC_SHA256)"
    fi
}

base_is_current() {
    [ -d "$BASE_TREE" ] && [ -f "$BASE_STAMP" ] &&
        [ "$(cat "$BASE_STAMP")" = "$(base_stamp_text)" ]
}

# A private apt configuration in DIR: its own sources.list (the remaining
# arguments, one line each), lists and cache, so the machine's apt setup
# is never read or changed. Run apt tools in it with apt_in.
apt_private_init() {
    local dir=$1
    shift
    mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial"
    printf '%s\n' "$@" >"$dir/sources.list"
}

# debian_archive [security]: the Debian archive this machine's apt uses
# for bookworm (or bookworm-security), read from its apt configuration
# (sources.list, sources.list.d, one-line or deb822; APT_CONFIG is
# honoured), so that a machine behind a local mirror or proxy fetches from
# there. DEBIAN_MIRROR (DEBIAN_SECURITY_MIRROR) overrides it;
# deb.debian.org when apt has no such source. No trailing slash. The
# private apt configurations (apt_private_init) list other suites (trixie,
# bookworm-backports) from the same archive.
debian_archive() {
    local suite=bookworm var=DEBIAN_MIRROR uri
    local fallback=http://deb.debian.org/debian
    if [ "${1:-}" = security ]; then
        suite=bookworm-security var=DEBIAN_SECURITY_MIRROR
        fallback=http://deb.debian.org/debian-security
    fi
    uri=${!var:-}
    if [ -z "$uri" ]; then
        uri=$(apt-get indextargets --no-release-info \
                  --format '$(RELEASE) $(REPO_URI)' 2>/dev/null |
              awk -v s="$suite" '$1 == s { print $2; exit }')
    fi
    uri=${uri:-$fallback}
    printf '%s\n' "${uri%/}"
}

# apt_in DIR TOOL ARGS...: run apt-get/apt-cache with DIR's configuration.
apt_in() {
    local dir=$1 tool=$2
    shift 2
    "$tool" -o "Dir::Etc::SourceList=$dir/sources.list" \
        -o "Dir::Etc::SourceParts=/dev/null" \
        -o "Dir::State::Lists=$dir/lists" -o "Dir::Cache=$dir/cache" \
        -o "APT::Sandbox::User=root" "$@"
}

# linux_accel: sets LINUX_ACCEL to "kvm" where a Linux guest can run under
# KVM here, else to "tcg", and LINUX_ACCEL_WHY to why. A Linux guest boots
# under hardware KVM; kvm_pvm (a software nested KVM) cannot boot one (it
# emulates ring-0 code), so there the guest runs under TCG.
linux_accel() {
    if [ -r /dev/kvm ] && [ -w /dev/kvm ] && [ ! -d /sys/module/kvm_pvm ]; then
        LINUX_ACCEL=kvm
        LINUX_ACCEL_WHY="hardware KVM found"
        return
    fi
    LINUX_ACCEL=tcg
    if [ ! -e /dev/kvm ]; then
        LINUX_ACCEL_WHY="no /dev/kvm on this machine"
    elif [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
        LINUX_ACCEL_WHY="/dev/kvm is not usable by $(id -un)"
    else
        LINUX_ACCEL_WHY="/dev/kvm is kvm_pvm, which cannot boot Linux"
    fi
}
