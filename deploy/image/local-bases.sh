#!/usr/bin/env bash
# Stand-ins for deploy/Dockerfile's base images, made locally, for a machine that cannot reach
# an image registry. NOT for CI, and not needed anywhere `docker build` can pull: there the real
# `rust:1.95-bookworm` and `debian:bookworm-slim` come from Docker Hub and this script has no
# business running.
#
# Why it exists: the image was first built (2026-12-07) on a machine with Debian packages and
# crates.io but no route to any registry (registry-1.docker.io and ghcr.io do not resolve). To
# build the Dockerfile unchanged there, this script makes images with the same names from a
# Debian bookworm root filesystem (mmdebstrap) and the host's own Rust toolchain:
#
#   debian:bookworm-slim  mmdebstrap --variant=minbase bookworm, merged /usr, without docs, man
#                         pages and locales, with the official images' apt and dpkg settings
#                         (what the official slim image is made of).
#   rust:1.95-bookworm    the same plus the packages of buildpack-deps:bookworm that matter to a
#                         C/Rust build (gcc, g++, make, libc6-dev, libssl-dev, zlib1g-dev, curl,
#                         git, ...; not its image, database and X libraries, and no cmake, as in
#                         the real one), and Rust 1.95.0 laid out like the official image:
#                         rustup and its proxies in /usr/local/cargo/bin, the toolchain in
#                         /usr/local/rustup, RUSTUP_HOME, CARGO_HOME, PATH and RUST_VERSION set.
#                         The toolchain is copied from the host (`rustup which rustc
#                         --toolchain 1.95.0`), minus its HTML docs; no download.
#
# Also copied into the rust stand-in only: the CA certificates the host trusts beyond Debian's
# (/usr/local/share/ca-certificates/*.crt), because on the machine this was written for HTTPS to
# crates.io goes through an intercepting egress proxy and cargo in the builder must trust it.
# Nothing of it reaches the runtime image (it starts from the slim stand-in).
#
# Usage (as root; needs mmdebstrap, rustup with a 1.95.0 toolchain, and podman or docker):
#   deploy/image/local-bases.sh                 # ENGINE=podman by default
#   ENGINE=docker deploy/image/local-bases.sh
# Then: deploy/image/check.sh (or `podman build -f deploy/Dockerfile -t granary:dev .`).
# Remove them with `$ENGINE rmi rust:1.95-bookworm debian:bookworm-slim`.
set -euo pipefail

ENGINE="${ENGINE:-podman}"
SUITE=bookworm
MIRROR="${MIRROR:-http://deb.debian.org/debian}"
SECURITY_MIRROR="${SECURITY_MIRROR:-http://deb.debian.org/debian-security}"
RUST_VERSION=1.95.0
EXTRA_CA_DIR="${EXTRA_CA_DIR:-/usr/local/share/ca-certificates}"

# The host's Rust 1.95.0 toolchain directory (the ../.. of its rustc).
rustc_path="$(rustup which rustc --toolchain "$RUST_VERSION")"
toolchain="$(cd "$(dirname "$rustc_path")/.." && pwd -P)"
"$toolchain/bin/rustc" --version | grep -q "^rustc $RUST_VERSION " \
  || { echo "local-bases.sh: $toolchain is not rustc $RUST_VERSION" >&2; exit 1; }
rustup_bin="$(command -v rustup)"
rustup_bin="$(readlink -f "$rustup_bin")"

# The suites the official images list: the release, its updates and security.
sources=("deb $MIRROR $SUITE main" "deb $MIRROR $SUITE-updates main" "deb $SECURITY_MIRROR $SUITE-security main")

work="$(mktemp -d /tmp/granary-bases.XXXXXX)"
trap 'rm -rf "$work"' EXIT

# What the official slim images leave out (debuerreotype's slimify list, in short).
# The apt and dpkg settings every official Debian image carries (debuerreotype's): apt deletes
# the .debs it downloaded and keeps no package cache, so an `apt-get install` layer holds only
# what it installed; indexes stay gzipped, no translations, unsafe-io for speed.
conf="$work/conf"
mkdir -p "$conf/etc/apt/apt.conf.d" "$conf/etc/dpkg/dpkg.cfg.d"
cat >"$conf/etc/apt/apt.conf.d/docker-clean" <<'APT'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
APT
echo 'Acquire::GzipIndexes "true";' >"$conf/etc/apt/apt.conf.d/docker-gzip-indexes"
echo 'Apt::AutoRemove::SuggestsImportant "false";' >"$conf/etc/apt/apt.conf.d/docker-autoremove-suggests"
echo 'Acquire::Languages "none";' >"$conf/etc/apt/apt.conf.d/docker-no-languages"
echo 'force-unsafe-io' >"$conf/etc/dpkg/dpkg.cfg.d/docker-apt-speedup"

# merged-usr: /bin, /lib, /sbin as symlinks made by mmdebstrap's hook, as in the official
# images, rather than by the usrmerge package (which drags perl in).
# shellcheck disable=SC2016 # "$1" in the hooks is the chroot, expanded by mmdebstrap's shell
slim=(
  --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr
  --dpkgopt='path-exclude=/usr/share/doc/*'
  --dpkgopt='path-include=/usr/share/doc/*/copyright'
  --dpkgopt='path-exclude=/usr/share/man/*'
  --dpkgopt='path-exclude=/usr/share/info/*'
  --dpkgopt='path-exclude=/usr/share/locale/*'
  --dpkgopt='path-include=/usr/share/locale/locale.alias'
  --dpkgopt='path-exclude=/usr/share/lintian/*'
  --aptopt='Acquire::Languages "none"'
  --customize-hook="cp -r '$conf/.' \"\$1/\""
  --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin'
)

echo "== debian:$SUITE-slim"
mmdebstrap --mode=root --variant=minbase --format=tar "${slim[@]}" "$SUITE" "$work/slim.tar" "${sources[@]}"
"$ENGINE" import --change 'CMD ["bash"]' "$work/slim.tar" "docker.io/library/debian:$SUITE-slim"

echo "== rust:1.95-$SUITE (toolchain from $toolchain)"
# buildpack-deps:bookworm's curl and scm layers, and the compilers and libraries of its last
# layer that a Rust build with C dependencies uses.
packages=(
  ca-certificates curl gnupg netbase wget git openssh-client procps
  autoconf automake bzip2 dpkg-dev file g++ gcc libc6-dev libssl-dev libtool make patch
  pkg-config unzip xz-utils zlib1g-dev
)
rust_hooks=(
  --customize-hook="mkdir -p \"\$1/usr/local/rustup/toolchains\" \"\$1/usr/local/cargo/bin\""
  --customize-hook="tar -C '$toolchain' --exclude=./share/doc -cf - . | tar -C \"\$1/usr/local/rustup/toolchains\" --one-top-level=$RUST_VERSION-x86_64-unknown-linux-gnu -xf -"
  --customize-hook="install -m 0755 '$rustup_bin' \"\$1/usr/local/cargo/bin/rustup\""
  --customize-hook="for p in cargo cargo-clippy cargo-fmt clippy-driver rustc rustdoc rustfmt rust-gdb rust-gdbgui rust-lldb; do ln -s rustup \"\$1/usr/local/cargo/bin/\$p\"; done"
  --customize-hook="printf 'version = \"12\"\ndefault_toolchain = \"$RUST_VERSION-x86_64-unknown-linux-gnu\"\nprofile = \"minimal\"\n' > \"\$1/usr/local/rustup/settings.toml\""
  --customize-hook="chmod -R a+w \"\$1/usr/local/rustup\" \"\$1/usr/local/cargo\""
)
if compgen -G "$EXTRA_CA_DIR/*.crt" >/dev/null; then
  rust_hooks+=(--customize-hook="cp $EXTRA_CA_DIR/*.crt \"\$1/usr/local/share/ca-certificates/\" && chroot \"\$1\" update-ca-certificates")
fi
mmdebstrap --mode=root --variant=minbase --format=tar --include="$(IFS=,; echo "${packages[*]}")" \
  "${slim[@]}" "${rust_hooks[@]}" "$SUITE" "$work/rust.tar" "${sources[@]}"
"$ENGINE" import \
  --change 'ENV RUSTUP_HOME=/usr/local/rustup' \
  --change 'ENV CARGO_HOME=/usr/local/cargo' \
  --change 'ENV PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change "ENV RUST_VERSION=$RUST_VERSION" \
  --change 'CMD ["bash"]' \
  "$work/rust.tar" "docker.io/library/rust:1.95-$SUITE"

"$ENGINE" run --rm "docker.io/library/rust:1.95-$SUITE" sh -c 'rustc --version && cargo --version'
"$ENGINE" images --filter reference=debian --filter reference=rust
