#!/usr/bin/env bash
# Installs what building and testing lunclone needs on Debian 12 (as root,
# or with sudo): the build dependencies, dpkg-dev (tcmu-runner's headers come
# from its source package), and what the end-to-end tests run
# (tests/e2e/install-host.sh: User-Mode-Linux, tcmu-runner, targetcli,
# initiators, fio), clang with libFuzzer for scripts/fuzz.sh, and gnuplot
# for the plots of bench/uml-suite. Safe to
# run again.
set -euo pipefail

pkgs=(build-essential cmake pkg-config libcmocka-dev libjson-c-dev python3-jsonschema libsystemd-dev libnl-3-dev libnl-route-3-dev systemd valgrind dpkg-dev libiscsi-dev libiscsi-bin tgt
	clang libclang-rt-14-dev
	gnuplot-nox)

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing+=("$p")
done
sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo
if [ ${#missing[@]} -gt 0 ]; then
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
$sudo bash "$(dirname "$0")/../tests/e2e/install-host.sh" >/dev/null
