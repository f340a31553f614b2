#!/usr/bin/env bash
# The README's run command (`npm start`): installs what is missing (Debian's etcd and Redis, npm
# dependencies), builds, and runs the local stack (`baton dev`). Extra arguments go to baton dev,
# e.g. `npm start -- --kill-leader-every 30s`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-system.sh
bash scripts/ensure-node-deps.sh
exec node dist/src/bin/baton.js dev "$@"
