#!/usr/bin/env bash
# The README's test command (`npm test`): installs what is missing, then runs the checks
# fast to slow: lockfile, format + lint, types (server, and the dashboard's modules), import cycles, unit tests, integration tests.
set -euo pipefail
cd "$(dirname "$0")/.."
# package-lock.json must satisfy `npm ci` (complete for every platform, in sync with
# package.json, no dependency whose engines exclude this Node): a dry run, under a second.
echo "== lockfile"; npm ci --dry-run --engine-strict --no-audit --no-fund --loglevel=error >/dev/null
# The browser test (test/browser/) drives Debian's headless Chromium.
BATON_NEED_CHROMIUM=1 bash scripts/ensure-system.sh
bash scripts/ensure-node-deps.sh
echo "== lint"; npx eslint . && npx prettier --check . >/dev/null
echo "== types"; npx tsc -p tsconfig.json --noEmit && npx tsc -p tsconfig.dashboard.json
echo "== cycles"; npx madge --circular --extensions ts --ts-config tsconfig.json src >/dev/null
echo "== layers"; node scripts/check-layers.mjs
echo "== unit"; npx vitest run --project unit
echo "== integration"; npx vitest run --project integration
