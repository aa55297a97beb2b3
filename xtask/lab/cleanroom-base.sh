#!/bin/bash
# Clean-room base recipe: a minimal Debian bookworm root holding what a user of the README has
# besides the Rust toolchain (a C linker and the CA certificates crates.io's TLS needs), with the
# apt sources a fresh Debian machine has. Run by `cargo xtask cleanroom` as root; every byte of
# this file and the package list are the cache key.
#
# Environment (set by xtask): MIRROR (read from the host's apt sources), ROOT (the directory to
# fill; made fresh), DEBS (the directory of downloaded bookworm .deb files that the lab's bookworm
# image builds share; xtask holds their lock), PACKAGES (space-separated), LOG (the build log).
set -euo pipefail

: "${MIRROR:?}" "${ROOT:?}" "${DEBS:?}" "${PACKAGES:?}" "${LOG:?}"
step() { printf '[clean-room base] %s\n' "$*"; }
fail() { tail -n 30 "$LOG" >&2; exit 1; }

cleanup() {
  # Stop anything still running inside the root (an interrupted apt), then unmount, deepest first.
  for p in /proc/[0-9]*; do
    if [ "$(readlink "$p/root" 2>/dev/null)" = "$ROOT" ]; then kill -9 "${p#/proc/}" 2>/dev/null || true; fi
  done
  for m in var/cache/apt/archives dev/pts dev sys proc; do
    if mountpoint -q "$ROOT/$m" 2>/dev/null; then umount -l "$ROOT/$m" || true; fi
  done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$ROOT" "$DEBS"
: >"$LOG"

step "debootstrap bookworm (minbase)"
debootstrap --variant=minbase --cache-dir="$DEBS" bookworm "$ROOT" "$MIRROR" >>"$LOG" 2>&1 || fail

# The sources of a fresh Debian machine (deb822), replacing debootstrap's one-line file.
rm -f "$ROOT/etc/apt/sources.list"
mkdir -p "$ROOT/etc/apt/sources.list.d"
cat >"$ROOT/etc/apt/sources.list.d/debian.sources" <<SRC
Types: deb
URIs: $MIRROR
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
[ -f "$ROOT/usr/share/keyrings/debian-archive-keyring.gpg" ] || { echo "no archive keyring in the root" >&2; exit 1; }

printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"
chmod +x "$ROOT/usr/sbin/policy-rc.d"
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"

mount -t proc proc "$ROOT/proc"
mount --bind /sys "$ROOT/sys"
mount --bind /dev "$ROOT/dev"
mount --bind /dev/pts "$ROOT/dev/pts"
# apt keeps what it downloads in the shared directory.
mount --bind "$DEBS" "$ROOT/var/cache/apt/archives"

in_root() { chroot "$ROOT" env DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 "$@"; }

step "apt-get update"
in_root apt-get -q update >>"$LOG" 2>&1 || fail

step "install $PACKAGES"
# shellcheck disable=SC2086 # PACKAGES is a word list
in_root apt-get -y -q -o Dpkg::Use-Pty=0 --no-install-recommends install $PACKAGES >>"$LOG" 2>&1 || fail

step "trimming caches"
# Unmount the shared directory first: `apt-get clean` would empty it.
umount "$ROOT/var/cache/apt/archives"
in_root apt-get clean >>"$LOG" 2>&1 || fail
cleanup
trap - EXIT
rm -rf "$ROOT/var/lib/apt/lists/"*
# A fresh machine has neither of these: each run puts its own in place.
rm -f "$ROOT/usr/sbin/policy-rc.d" "$ROOT/etc/resolv.conf"
step "done"
