#!/usr/bin/env bash
# Installs the Debian 12 packages drift_exporter needs that are missing; idempotent.
#   packaging/deps.sh          build and run
#   packaging/deps.sh --deb    also what packaging/deb/build.sh uses
#   packaging/deps.sh --test   also what the test suite and benchmarks use (with --deb's)
set -euo pipefail

# libcurl4-openssl-dev is for the headers: the binary does not link libcurl but loads
# libcurl.so.4 (package libcurl4, which the -dev package pulls in) when `alerting:` is
# configured, so a package of drift_exporter must depend on libcurl4 explicitly.
# libhowardhinnant-date-dev (libdate-tz3) with tzdata: the time zones of healing's maintenance
# windows.
build=(cmake g++ make pkg-config git
  libssl-dev libsodium-dev libyaml-cpp-dev libfmt-dev libmicrohttpd-dev prometheus-cpp-dev
  nlohmann-json3-dev libcurl4-openssl-dev libcli11-dev libgnutls28-dev libcrypt-dev zlib1g-dev
  libhowardhinnant-date-dev tzdata)
# clang and its sanitizer runtimes: the ASan/UBSan and TSan stages, -Wthread-safety and
# bench/fuzz.sh (libFuzzer).
test=(apache2-utils googletest libgtest-dev clang-format clang libclang-rt-14-dev python3 prometheus
  prometheus-alertmanager minisign wrk prometheus-node-exporter hyperfine)

# The Debian package: debhelper (with dpkg-dev), help2man for the man page, lintian.
deb=(debhelper dpkg-dev help2man lintian)
# nix-bin: nix-instantiate parses and evaluates the NixOS module (tests/packaging);
# systemd: systemd-analyze verifies the unit and rates its exposure; debootstrap: a Debian 12
# chroot to install the package into for real.
test+=("${deb[@]}" nix-bin systemd debootstrap)

wanted=("${build[@]}")
case "${1:-}" in
  --deb) wanted+=("${deb[@]}") ;;
  --test) wanted+=("${test[@]}") ;;
esac

missing=()
for p in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "installing: ${missing[*]}" >&2
sudo=()
if [[ $(id -u) -ne 0 ]]; then sudo=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
