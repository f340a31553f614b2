#!/usr/bin/env bash
# `npm run test:deploy`: runs the container stack for real and checks it (test/deploy/).
#
# 1. Installs Debian's docker.io, docker-compose (v1) and mmdebstrap when they are missing, and
#    the npm dependencies (scripts/ensure-node-deps.sh).
# 2. Starts dockerd when no Docker engine answers, and stops it at the end (only that one).
# 3. Builds stand-ins for the base images the files name, only where they are missing (no
#    public registry is needed): debian:bookworm-slim from `mmdebstrap --variant=minbase`,
#    node:20-bookworm-slim from this machine's Node 20 and npm, quay.io/coreos/etcd:v3.4.34 and
#    redis:7.0 from Debian's etcd-server and redis-server (deploy/standins/).
# 4. Builds deploy/Dockerfile as baton:latest. npm in the build trusts the CA file this machine's
#    npm trusts (`npm config get cafile`, else NODE_EXTRA_CA_CERTS), passed as a BuildKit secret
#    (in no image layer), and uses the same registry.
# 5. Runs test/deploy/ (vitest project `deploy`): docker-compose.yaml up under a unique project
#    name, the checks, and `down -v`.
#
# Needs root (or sudo) for apt-get and dockerd. BATON_DOCKER picks the docker client. On any exit
# (failure, SIGTERM from `timeout`, Ctrl-C) the compose project is taken down with its volumes
# and the dockerd it started is stopped.
set -euo pipefail
cd "$(dirname "$0")/.."

sudo=()
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo=(sudo); fi
fi
log() { echo "test:deploy: $*" >&2; }

need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v docker-compose >/dev/null 2>&1 || need+=(docker-compose)
command -v mmdebstrap >/dev/null 2>&1 || need+=(mmdebstrap)
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]} from Debian (apt-get)…"
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
    "${need[@]}" >/dev/null
fi

# vitest runs the checks (npm ci when node_modules is missing or older than the lockfile).
bash scripts/ensure-node-deps.sh

# Debian's client (docker.io, the daemon's version) builds with BuildKit without the buildx
# plugin; a newer client elsewhere on PATH may not.
if [ -z "${BATON_DOCKER:-}" ]; then
  if [ -x /usr/bin/docker ]; then BATON_DOCKER=/usr/bin/docker; else BATON_DOCKER=$(command -v docker); fi
fi
export BATON_DOCKER
docker() { "${sudo[@]}" "$BATON_DOCKER" "$@"; }

work=$(mktemp -d "${TMPDIR:-/tmp}/baton-deploy.XXXXXX")
BATON_DEPLOY_PROJECT="baton-deploy-$(basename "$work" | cut -d. -f2 | tr 'A-Z' 'a-z')"
export BATON_DEPLOY_PROJECT
dockerd_pid=
child=
# Long steps run in the background so a signal is handled at once, not when they end.
run_bg() {
  "$@" &
  child=$!
  wait "$child"
}
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "$child" ] && kill -0 "$child" 2>/dev/null; then
    kill -TERM "$child" 2>/dev/null || true
    wait "$child" 2>/dev/null || true
  fi
  if docker info >/dev/null 2>&1; then
    "${sudo[@]}" docker-compose -p "$BATON_DEPLOY_PROJECT" -f docker-compose.yaml \
      down -v --remove-orphans >/dev/null 2>&1 || true
  fi
  if [ -n "$dockerd_pid" ]; then
    log "stopping the dockerd it started (pid $dockerd_pid)"
    "${sudo[@]}" kill -TERM "$dockerd_pid" 2>/dev/null || true
    # dockerd is not our child (setsid): wait for its pid to go.
    for _ in $(seq 1 300); do "${sudo[@]}" kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -rf "$work"
  exit $rc
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

if ! docker info >/dev/null 2>&1; then
  log "no Docker engine answers: starting dockerd (log: $work/dockerd.log)"
  "${sudo[@]}" setsid dockerd >"$work/dockerd.log" 2>&1 </dev/null &
  dockerd_pid=$!
  for _ in $(seq 1 600); do
    docker info >/dev/null 2>&1 && break
    if ! "${sudo[@]}" kill -0 "$dockerd_pid" 2>/dev/null; then
      tail -20 "$work/dockerd.log" >&2
      log "dockerd exited"
      exit 1
    fi
    sleep 0.1
  done
  docker info >/dev/null 2>&1 || { tail -20 "$work/dockerd.log" >&2; log "dockerd did not answer in 60 s"; exit 1; }
fi

missing() { ! docker image inspect "$1" >/dev/null 2>&1; }

if missing debian:bookworm-slim; then
  log "building the stand-in debian:bookworm-slim (mmdebstrap --variant=minbase bookworm)"
  run_bg "${sudo[@]}" mmdebstrap --variant=minbase --quiet bookworm "$work/bookworm.tar"
  docker import "$work/bookworm.tar" debian:bookworm-slim >/dev/null
  rm -f "$work/bookworm.tar"
fi
if missing node:20-bookworm-slim; then
  node_bin=$(readlink -f "$(command -v node)")
  case "$("$node_bin" --version)" in v20.*) ;; *)
    log "the node:20-bookworm-slim stand-in needs this machine's Node to be 20, it is $("$node_bin" --version)"
    exit 1
    ;;
  esac
  log "building the stand-in node:20-bookworm-slim from $node_bin $("$node_bin" --version)"
  mkdir -p "$work/node"
  cp "$node_bin" "$work/node/node"
  cp -a "$(npm root -g)/npm" "$work/node/npm"
  run_bg "${sudo[@]}" "$BATON_DOCKER" build -q --network host -f deploy/standins/node.Dockerfile -t node:20-bookworm-slim "$work/node" >/dev/null
fi
if missing quay.io/coreos/etcd:v3.4.34; then
  log "building the stand-in quay.io/coreos/etcd:v3.4.34 from Debian's etcd-server"
  run_bg "${sudo[@]}" "$BATON_DOCKER" build -q --network host -f deploy/standins/etcd.Dockerfile -t quay.io/coreos/etcd:v3.4.34 deploy/standins >/dev/null
fi
if missing redis:7.0; then
  log "building the stand-in redis:7.0 from Debian's redis-server"
  run_bg "${sudo[@]}" "$BATON_DOCKER" build -q --network host -f deploy/standins/redis.Dockerfile -t redis:7.0 deploy/standins >/dev/null
fi

# npm in the build reaches the registry the way this machine's npm does.
build_args=(--build-arg "NPM_REGISTRY=$(npm config get registry)")
ca=$(npm config get cafile)
if [ -z "$ca" ] || [ "$ca" = null ] || [ "$ca" = undefined ]; then ca=${NODE_EXTRA_CA_CERTS:-}; fi
if [ -n "$ca" ] && [ -s "$ca" ]; then build_args+=(--secret "id=npm-ca,src=$ca"); fi
log "building deploy/Dockerfile as baton:latest"
start=$(date +%s)
run_bg "${sudo[@]}" env DOCKER_BUILDKIT=1 "$BATON_DOCKER" build --progress=plain --network host "${build_args[@]}" \
  -f deploy/Dockerfile -t baton:latest . >"$work/build.log" 2>&1 || {
  tail -40 "$work/build.log" >&2
  log "docker build failed"
  exit 1
}
log "image built in $(($(date +%s) - start)) s"

run_bg npx vitest run --project deploy
