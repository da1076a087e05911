#!/usr/bin/env bash
# Installs what kvplan needs to build and test, from Debian 12's packages (clang and its runtime
# libraries, libclang-rt-14-dev, build the fuzz targets). Skips apt entirely
# when everything is already there (so it is quick and works without network on a set-up machine).
set -euo pipefail
packages=(cmake g++ clang libclang-rt-14-dev make python3 python3-yaml libcli11-dev libfmt-dev nlohmann-json3-dev libyaml-cpp-dev catch2 librsvg2-bin libxml2-utils)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "kvplan: all build dependencies present"
  exit 0
fi
echo "kvplan: installing ${missing[*]}"
sudo_cmd=()
[ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)
"${sudo_cmd[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
