#!/usr/bin/env bash
# Release artifacts for the routers villages have: static musl binaries for
# x86_64, aarch64 and armv7 (cargo-zigbuild: zig is the cross linker and
# brings musl), each in desawifi-VERSION-TARGET.tar.gz with the example
# config, the systemd unit, the man page and the manual (README.md,
# BENCHMARKS.md, RELIABILITY.md, docs/*.md: a technician's router is often
# offline; docs/_incoming/ is notes, not the manual); a Debian package per
# architecture (amd64, arm64, armhf, made with dpkg-deb); and SHA256SUMS.
#
#   scripts/dist.sh                 all three targets into dist/
#   DIST_TARGETS="aarch64-unknown-linux-musl" scripts/dist.sh
#
# Tools: rustup targets (added here), cargo-zigbuild and zig from PyPI
# (scripts/install-deps.sh puts them in /opt/desawifi-tools), dpkg-deb.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGETS=${DIST_TARGETS:-x86_64-unknown-linux-musl aarch64-unknown-linux-musl armv7-unknown-linux-musleabihf}
OUT=${DIST_DIR:-dist}
TARGET_DIR=${CARGO_TARGET_DIR:-target}
TOOLS=${DW_TOOLS:-/opt/desawifi-tools}
export PATH="$TOOLS/bin:$PATH"
command -v cargo-zigbuild >/dev/null || { echo "dist.sh: cargo-zigbuild not found: run scripts/install-deps.sh (or pip install ziglang cargo-zigbuild)" >&2; exit 1; }
command -v dpkg-deb >/dev/null || { echo "dist.sh: dpkg-deb not found: apt-get install dpkg" >&2; exit 1; }

VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
[ -n "$VERSION" ] || { echo "dist.sh: no version in Cargo.toml" >&2; exit 1; }

deb_arch() {
  case $1 in
    x86_64-*) echo amd64 ;;
    aarch64-*) echo arm64 ;;
    armv7-*) echo armhf ;;
    *) echo "dist.sh: no Debian architecture for $1" >&2; return 1 ;;
  esac
}

# A target whose std rustup cannot fetch (rust-std for armv7 musl is missing
# from some mirrors: 404) is built with -Zbuild-std from rust-src instead;
# zig then brings the C start files and libc (`link-self-contained=no`:
# rust-std's self-contained crt1.o is what is missing). Verified for
# armv7-unknown-linux-musleabihf on Rust 1.95.0 and ziglang 0.17.1 (about 5
# minutes on 2 cores, std included; the binary ran the login under
# qemu-arm-static, BENCHMARKS.md "Release builds"); where rustup has the
# target, none of this runs.
build() {
  local target=$1
  local -a std=()
  if ! rustup target list --installed | grep -qx "$target"; then
    if ! rustup target add "$target" >/dev/null 2>&1; then
      echo "dist.sh: rustup has no std for $target here; building std from rust-src" >&2
      rustup component add rust-src >/dev/null
      std=(-Zbuild-std=std,panic_unwind)
      export RUSTC_BOOTSTRAP=1
      # RUSTFLAGS replaces .cargo/config.toml's musl rustflags: repeat them.
      export RUSTFLAGS="${RUSTFLAGS:-} -C force-unwind-tables=no -C link-self-contained=no"
    fi
  fi
  echo "dist.sh: building $target" >&2
  local t0=$SECONDS
  cargo zigbuild --locked --release --target "$target" "${std[@]}" --bin desawifi
  unset RUSTC_BOOTSTRAP RUSTFLAGS
  echo "dist.sh: $target built in $((SECONDS - t0)) s" >&2
}

rm -rf "$OUT"
mkdir -p "$OUT"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Targets rustup has go through ONE cargo invocation (cargo builds them in
# parallel); the others one by one through build().
together=()
for target in $TARGETS; do
  if rustup target list --installed | grep -qx "$target" || rustup target add "$target" >/dev/null 2>&1; then
    together+=(--target "$target")
  fi
done
if [ ${#together[@]} -gt 0 ]; then
  echo "dist.sh: building ${together[*]}" >&2
  t0=$SECONDS
  cargo zigbuild --locked --release "${together[@]}" --bin desawifi
  echo "dist.sh: built in $((SECONDS - t0)) s" >&2
fi
for target in $TARGETS; do
  [ -x "$TARGET_DIR/$target/release/desawifi" ] && [[ " ${together[*]} " == *" $target "* ]] && continue
  build "$target"
done

# The man page and completions come from the CLI's own definition
# (examples/gen_docs.rs, built for this machine; not part of the binary).
gen="$work/gen"
mkdir -p "$gen"
# Always in target/ (shared with the test build), whatever CARGO_TARGET_DIR says.
cargo build --locked --quiet --example gen_docs --target-dir target
for what in man bash zsh fish; do
  case $what in
    man) file=desawifi.1 ;; bash) file=desawifi.bash ;; zsh) file=_desawifi ;; fish) file=desawifi.fish ;;
  esac
  target/debug/examples/gen_docs "$what" >"$gen/$file"
done

for target in $TARGETS; do
  bin="$TARGET_DIR/$target/release/desawifi"
  name="desawifi-$VERSION-$target"

  # The tarball: binary, example config, dnsmasq snippet, unit, man page, the
  # manual (laid out as in the repository, so its links work).
  stage="$work/$name"
  mkdir -p "$stage/docs"
  install -m 755 "$bin" "$stage/desawifi"
  install -m 644 config/desawifi.toml config/dnsmasq-desawifi.conf \
    packaging/systemd/desawifi.service "$gen/desawifi.1" "$stage/"
  install -m 644 README.md BENCHMARKS.md RELIABILITY.md "$stage/"
  install -m 644 docs/*.md "$stage/docs/"
  cp -r config/fleet "$stage/fleet"
  tar -C "$work" --owner=0 --group=0 --numeric-owner -czf "$OUT/$name.tar.gz" "$name"

  # The Debian package.
  arch=$(deb_arch "$target")
  root="$work/deb-$arch"
  install -D -m 755 "$bin" "$root/usr/bin/desawifi"
  install -D -m 644 config/desawifi.toml "$root/etc/desawifi/desawifi.toml"
  install -D -m 644 config/dnsmasq-desawifi.conf "$root/etc/dnsmasq.d/desawifi.conf"
  install -D -m 644 packaging/systemd/desawifi.service "$root/lib/systemd/system/desawifi.service"
  install -D -m 644 "$gen/desawifi.1" "$root/usr/share/man/man1/desawifi.1"
  gzip -9n "$root/usr/share/man/man1/desawifi.1"
  install -D -m 644 "$gen/desawifi.bash" "$root/usr/share/bash-completion/completions/desawifi"
  install -D -m 644 "$gen/_desawifi" "$root/usr/share/zsh/vendor-completions/_desawifi"
  install -D -m 644 "$gen/desawifi.fish" "$root/usr/share/fish/vendor_completions.d/desawifi.fish"
  # The manual, laid out as in the repository (README.md links docs/PAGE.md).
  install -d "$root/usr/share/doc/desawifi/docs"
  install -m 644 README.md BENCHMARKS.md RELIABILITY.md "$root/usr/share/doc/desawifi/"
  install -m 644 docs/*.md "$root/usr/share/doc/desawifi/docs/"
  # The fleet agent (vmagent, from the suggested victoria-metrics package): its unit and
  # scrape config; it runs once /etc/desawifi/fleet-agent.env exists (the example is
  # in the docs, so installing turns nothing on). The regency's files go with the docs.
  install -D -m 644 config/fleet/desawifi-fleet-agent.service "$root/lib/systemd/system/desawifi-fleet-agent.service"
  install -D -m 644 config/fleet/vmagent.yml "$root/etc/desawifi/fleet-agent.yml"
  install -d "$root/usr/share/doc/desawifi/fleet"
  install -m 644 config/fleet/* "$root/usr/share/doc/desawifi/fleet/"
  printf 'desawifi %s\nLicense: MIT\n' "$VERSION" >"$root/usr/share/doc/desawifi/copyright"
  mkdir -p "$root/DEBIAN"
  install -m 644 packaging/debian/conffiles "$root/DEBIAN/conffiles"
  install -m 755 packaging/debian/postinst packaging/debian/prerm packaging/debian/postrm "$root/DEBIAN/"
  size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
  sed -e "s/@VERSION@/$VERSION/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" \
    packaging/debian/control.in >"$root/DEBIAN/control"
  dpkg-deb --root-owner-group -Zxz --build "$root" "$OUT/desawifi_${VERSION}_$arch.deb" >/dev/null
done

(cd "$OUT" && sha256sum -- *.tar.gz *.deb >SHA256SUMS)
echo "dist.sh: in $OUT/:" >&2
ls -l "$OUT" >&2
