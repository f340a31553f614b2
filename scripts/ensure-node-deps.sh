#!/usr/bin/env bash
# Installs npm dependencies when missing or older than package-lock.json, then builds dist/.
#
# `npm install`, not `npm ci`: npm 11 writes lockfiles without the other platforms' optional
# packages (rollup, msgpackr-extract) and then refuses them in `npm ci` as out of sync. `npm
# install` follows the lockfile's versions all the same. None of our dependencies needs its
# install script (esbuild and msgpackr ship their binaries as optional packages).
set -euo pipefail
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm install --no-audit --no-fund --loglevel=error
fi
npm run --silent build
