#!/usr/bin/env bash
# Installs what cowpi's build and tests need on a Debian (bookworm or later) machine:
#   - the Rust toolchain pinned in rust-toolchain.toml, with the aarch64-unknown-none target
#     (called explicitly: RUSTUP_AUTO_INSTALL may be 0, and rustup then installs nothing by itself);
#   - QEMU >= 9 (raspi4b first appears in QEMU 9.0). Debian bookworm ships 7.2 and has the newer one only in
#     bookworm-backports, so on bookworm this adds a backports entry derived from the machine's own Debian
#     sources (same mirror, suite changed) and installs qemu-system-arm from there.
# Safe to run again: every step checks first. Needs root (or sudo) only for the QEMU step.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

toolchain=$(sed -n 's/^channel *= *"\(.*\)"/\1/p' rust-toolchain.toml)
[ -n "$toolchain" ] || die "rust-toolchain.toml names no channel"

# --- Rust -----------------------------------------------------------------------------------------------
command -v rustup >/dev/null || die "rustup is not installed: see https://rustup.rs, then run this again"
if ! rustup toolchain list | grep -q "^$toolchain"; then
  say "installing Rust $toolchain"
  rustup toolchain install "$toolchain" --profile minimal --component rustfmt,clippy
fi
if ! rustup target list --toolchain "$toolchain" --installed | grep -qx aarch64-unknown-none; then
  say "adding target aarch64-unknown-none to Rust $toolchain"
  rustup target add --toolchain "$toolchain" aarch64-unknown-none
fi
for c in rustfmt clippy; do
  if ! rustup component list --toolchain "$toolchain" --installed | grep -q "^$c"; then
    say "adding component $c"
    rustup component add --toolchain "$toolchain" "$c"
  fi
done

# --- QEMU -----------------------------------------------------------------------------------------------
qemu_major() {
  command -v qemu-system-aarch64 >/dev/null || { echo 0; return; }
  qemu-system-aarch64 --version | sed -n 's/.*version \([0-9]*\)\..*/\1/p' | head -n1
}
if [ "$(qemu_major)" -ge 9 ]; then
  say "QEMU $(qemu-system-aarch64 --version | head -n1 | sed 's/.*version //') is new enough"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || die "QEMU >= 9 is needed and installing it needs root: run this script as root"
  sudo=sudo
fi
command -v apt-get >/dev/null || die "QEMU >= 9 (qemu-system-aarch64) is needed; install it with your package manager"

codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
apt_opts=(-y --no-install-recommends)
if [ "$codename" = bookworm ]; then
  list=/etc/apt/sources.list.d/cowpi-bookworm-backports.sources
  if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    say "adding bookworm-backports (derived from this machine's Debian sources) as $list"
    entry=""
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then
      # The first deb822 stanza whose Suites include plain "bookworm": keep its URIs and keyring, change the suite.
      entry=$(awk 'BEGIN{RS=""; FS="\n"} /(^|\n)Suites:[^\n]*bookworm( |\n|$)/ && !/security/ {print; exit}' \
        /etc/apt/sources.list.d/debian.sources |
        sed -e 's/^Suites:.*/Suites: bookworm-backports/' -e 's/^Components:.*/Components: main/')
    elif [ -f /etc/apt/sources.list ]; then
      uri=$(awk '$1=="deb" && $3=="bookworm" {print $2; exit}' /etc/apt/sources.list)
      [ -n "$uri" ] && entry=$(printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\n' "$uri")
    fi
    [ -n "$entry" ] || die "found no Debian bookworm entry in /etc/apt to derive bookworm-backports from"
    printf '%s\n' "$entry" | $sudo tee "$list" >/dev/null
  fi
  apt_opts+=(-t bookworm-backports)
fi
say "installing qemu-system-arm (apt-get ${apt_opts[*]})"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -qq "${apt_opts[@]}" qemu-system-arm >/dev/null
[ "$(qemu_major)" -ge 9 ] || die "installed QEMU is $(qemu-system-aarch64 --version | head -n1); cowpi needs >= 9"
say "QEMU $(qemu-system-aarch64 --version | head -n1 | sed 's/.*version //') installed"
