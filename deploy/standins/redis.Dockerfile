# Stand-in for redis:7.0, built by scripts/test-deploy.sh where that image cannot be pulled:
# Debian bookworm's redis-server (Redis 7.0) in /data. Like the official image, a server started
# without a configuration file accepts connections from other containers (protected mode off).
FROM debian:bookworm-slim
RUN apt-get update \
  && apt-get install -y --no-install-recommends redis-server \
  && rm -rf /var/lib/apt/lists/* \
  && mkdir -p /data && chown redis:redis /data \
  && printf '%s\n' '#!/bin/sh' \
    'if [ "$1" = redis-server ]; then shift; set -- redis-server --protected-mode no "$@"; fi' \
    'exec "$@"' > /usr/local/bin/docker-entrypoint.sh \
  && chmod +x /usr/local/bin/docker-entrypoint.sh
WORKDIR /data
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["redis-server"]
