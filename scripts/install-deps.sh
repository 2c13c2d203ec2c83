#!/usr/bin/env bash
# Installs every Debian 12 package listed in scripts/deps.txt that is missing.
# Idempotent: a machine that already has everything runs no apt command at all.
#   install-deps.sh              build and test dependencies
#   install-deps.sh --with bench also the lines tagged [bench] (benchmark peers)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
list="${here}/deps.txt"

if [[ -r /etc/os-release ]]; then
  # shellcheck disable=SC1091
  . /etc/os-release
  if [[ "${ID:-}" != "debian" || "${VERSION_ID:-}" != "12" ]]; then
    echo "install-deps: expected Debian 12, found ${PRETTY_NAME:-unknown}; not installing" >&2
    exit 1
  fi
fi

with_bench=false
if [[ "${1:-}" == "--with" && "${2:-}" == "bench" ]]; then
  with_bench=true
elif [[ $# -gt 0 ]]; then
  echo "usage: install-deps.sh [--with bench]" >&2
  exit 2
fi

wanted=()
while read -r pkg tag; do
  [[ -z "$pkg" ]] && continue
  if [[ "$tag" == "[bench]" && "$with_bench" != true ]]; then
    continue
  fi
  wanted+=("$pkg")
done < <(sed -e 's/#.*//' -e 's/[[:space:]]\+$//' -e '/^[[:space:]]*$/d' "$list")

missing=()
for pkg in "${wanted[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$pkg")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi

sudo=""
if [[ $(id -u) -ne 0 ]]; then
  sudo="sudo"
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
