# Stand-in for quay.io/coreos/etcd:v3.4.34, built by scripts/test-deploy.sh where that image
# cannot be pulled: Debian bookworm's etcd-server (etcd 3.4) with `etcd` on PATH.
FROM debian:bookworm-slim
RUN apt-get update \
  && apt-get install -y --no-install-recommends etcd-server \
  && rm -rf /var/lib/apt/lists/* \
  && etcd --version
CMD ["etcd"]
