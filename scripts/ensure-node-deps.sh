#!/usr/bin/env bash
# Installs the npm dependencies exactly as package-lock.json pins them (`npm ci`) when they are
# missing or older than the lockfile, then builds dist/.
#
# The lockfile lists every platform's optional packages (rollup, msgpackr-extract, esbuild), so
# `npm ci` works on any OS and CPU; `npm test` fails when it falls out of sync with package.json.
# None of our dependencies needs its install script (esbuild and msgpackr ship their binaries as
# optional packages; protobufjs's only prints a notice), so npm 11's default of not running them
# is fine.
set -euo pipefail
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
npm run --silent build
