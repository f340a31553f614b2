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
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# The packages may start system services on their default ports; baton never uses those.
"${sudo[@]}" pkill -x redis-server 2>/dev/null || true
"${sudo[@]}" pkill -x etcd 2>/dev/null || true
