#!/usr/bin/env bash
# Installs what cowpi's build and tests need on a Debian (bookworm or later) machine:
#   - the Rust toolchain pinned in rust-toolchain.toml, with the aarch64-unknown-none target
#     (called explicitly: RUSTUP_AUTO_INSTALL may be 0, and rustup then installs nothing by itself);
#   - QEMU >= 9 (raspi4b first appears in QEMU 9.0). Debian bookworm ships 7.2 and has the newer one only in
#     bookworm-backports, so on bookworm this adds a backports entry derived from the machine's own Debian
#     sources (same mirror, suite changed) and installs qemu-system-arm from there;
#   - for `cargo run -- sdcard` and its tests: dosfstools, mtools and raspi-firmware (the last from the
#     non-free-firmware component, added the same way when apt does not know it).
# Safe to run again: every step checks first. Needs root (or sudo) only for the apt steps.
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

# --- SD-card image: dosfstools, mtools, Raspberry Pi firmware ---------------------------------------------
# `cargo run -- sdcard` copies the Pi firmware from Debian's raspi-firmware package, which is in the
# non-free-firmware component (often not in a machine's sources): if apt knows no raspi-firmware, this adds
# an entry derived from the machine's own Debian sources (same mirror and keyring, suite = the release's
# codename, Components: non-free-firmware). The sdcard tests check the image with dosfstools (fsck.vfat)
# and mtools (mdir, mcopy). raspi-firmware pulls in nothing but dosfstools.
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'ok installed'; }
sd_packages=()
for p in dosfstools mtools raspi-firmware; do
  installed "$p" || sd_packages+=("$p")
done
if [ ${#sd_packages[@]} -eq 0 ]; then
  say "dosfstools, mtools and raspi-firmware are installed"
else
  command -v apt-get >/dev/null ||
    die "the SD-card image and its tests need ${sd_packages[*]}: install them with your package manager"
  sd_sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || die "installing ${sd_packages[*]} needs root: run this script as root"
    sd_sudo=sudo
  fi
  if [[ " ${sd_packages[*]} " == *" raspi-firmware "* ]]; then
    # Its install script copies the firmware to /boot/firmware and fails unless that is a mount point or
    # this is a container, VM or chroot; on an ordinary PC it would also hook every kernel upgrade.
    if ischroot 2>/dev/null || systemd-detect-virt -q 2>/dev/null || mountpoint -q /boot/firmware 2>/dev/null; then
      sd_codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
      [ -n "$sd_codename" ] || die "cannot tell this Debian release's codename from /etc/os-release"
      list=/etc/apt/sources.list.d/cowpi-non-free-firmware.sources
      if [ ! -f "$list" ] && ! apt-cache show raspi-firmware >/dev/null 2>&1; then
        say "adding $sd_codename non-free-firmware (derived from this machine's Debian sources) as $list"
        entry=""
        if [ -f /etc/apt/sources.list.d/debian.sources ]; then
          # The first deb822 stanza whose Suites include the plain codename: keep URIs and keyring.
          entry=$(awk -v suite="$sd_codename" 'BEGIN{RS=""; FS="\n"}
              $0 ~ ("(^|\n)Suites:[^\n]*" suite "( |\n|$)") && !/security/ {print; exit}' \
            /etc/apt/sources.list.d/debian.sources |
            sed -e "s/^Suites:.*/Suites: $sd_codename/" -e 's/^Components:.*/Components: non-free-firmware/')
        elif [ -f /etc/apt/sources.list ]; then
          uri=$(awk -v suite="$sd_codename" '$1=="deb" && $3==suite {print $2; exit}' /etc/apt/sources.list)
          [ -n "$uri" ] &&
            entry=$(printf 'Types: deb\nURIs: %s\nSuites: %s\nComponents: non-free-firmware\n' "$uri" "$sd_codename")
        fi
        [ -n "$entry" ] || die "found no Debian $sd_codename entry in /etc/apt to derive non-free-firmware from"
        printf '%s\n' "$entry" | $sd_sudo tee "$list" >/dev/null
      fi
    else
      say "not installing raspi-firmware: its install script needs /boot/firmware mounted on a real machine."
      say "  For \`cargo run -- sdcard\`, unpack it instead: apt-get download raspi-firmware &&"
      say "  dpkg-deb -x raspi-firmware_*.deb fw, then pass --firmware fw/usr/lib/raspi-firmware"
      kept=()
      for p in "${sd_packages[@]}"; do [ "$p" = raspi-firmware ] || kept+=("$p"); done
      sd_packages=("${kept[@]}")
    fi
  fi
  if [ ${#sd_packages[@]} -gt 0 ]; then
    say "installing ${sd_packages[*]} (apt-get --no-install-recommends)"
    $sd_sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sd_sudo apt-get install -qq -y --no-install-recommends "${sd_packages[@]}" >/dev/null
  fi
fi

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
