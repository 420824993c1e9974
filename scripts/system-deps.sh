#!/usr/bin/env bash
# Debian packages the tests (or the benchmark) need: installed when missing and running as root,
# otherwise the exact command to run is printed and the target fails.
set -euo pipefail

packages=()
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || packages+=(chromium)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || packages+=(postgresql)
command -v pg_dump >/dev/null 2>&1 || packages+=(postgresql-client)
[ -x /usr/sbin/nginx ] || packages+=(nginx)
command -v systemd-analyze >/dev/null 2>&1 || packages+=(systemd)
command -v openssl >/dev/null 2>&1 || packages+=(openssl)
command -v age >/dev/null 2>&1 || packages+=(age)
if [ "${1:-}" = "bench" ]; then
  command -v wrk >/dev/null 2>&1 || packages+=(wrk)
fi

[ ${#packages[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installation des paquets Debian manquants : ${packages[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
else
  echo "Paquets Debian manquants : ${packages[*]}" >&2
  echo "Installez-les puis relancez : sudo apt-get install -y ${packages[*]}" >&2
  exit 1
fi
