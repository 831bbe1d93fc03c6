#!/usr/bin/env bash
# Installs what building and testing lunclone needs on Debian 12 (as root,
# or with sudo). Safe to run again.
set -euo pipefail

pkgs=(build-essential cmake pkg-config libcmocka-dev libjson-c-dev valgrind libiscsi-dev libiscsi-bin tgt)

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
