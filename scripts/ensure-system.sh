#!/usr/bin/env bash
# Installs what baton's local stack and tests need from Debian when it is missing:
# etcd 3.4 (etcd-server, etcd-client) and Redis 7 (redis-server). Idempotent; needs root or sudo.
set -euo pipefail

need=()
command -v etcd >/dev/null 2>&1 || need+=(etcd-server)
command -v etcdctl >/dev/null 2>&1 || need+=(etcd-client)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
if [ "${BATON_NEED_CHROMIUM:-0}" = 1 ] && ! command -v chromium >/dev/null 2>&1; then
  need+=(chromium)
fi
[ ${#need[@]} -eq 0 ] && exit 0

sudo=()
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo=(sudo); else
    echo "baton: need the Debian packages ${need[*]} and root to install them (apt-get install ${need[*]})" >&2
    exit 1
  fi
fi
echo "baton: installing ${need[*]} from Debian (apt-get)…" >&2
# The packages would start system services (etcd on 2379, Redis on 6379) that baton never uses.
# Keep them from starting instead of stopping them afterwards (which would also stop servers the
# user runs): while installing, a policy-rc.d that denies every start, which invoke-rc.d and
# deb-systemd-invoke obey. Only when none is there already; removed afterwards.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\n# baton scripts/ensure-system.sh: no service starts while installing\nexit 101\n' |
    "${sudo[@]}" tee "$policy" >/dev/null
  "${sudo[@]}" chmod 755 "$policy"
  trap '"${sudo[@]}" rm -f "$policy"' EXIT
fi
"${sudo[@]}" apt-get -o DPkg::Lock::Timeout=120 update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=120 install -y -qq \
  --no-install-recommends "${need[@]}" >/dev/null
