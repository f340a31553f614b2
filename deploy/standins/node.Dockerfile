# Stand-in for node:20-bookworm-slim, built by scripts/test-deploy.sh where that image cannot be
# pulled: the host's Node 20 and npm on a Debian bookworm base, with the node user (uid 1000).
# Context: a folder holding `node` (the binary) and `npm` (npm's package folder).
FROM debian:bookworm-slim
COPY node /usr/local/bin/node
COPY npm /usr/local/lib/node_modules/npm
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
  && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
  && groupadd --gid 1000 node \
  && useradd --uid 1000 --gid node --shell /bin/bash --create-home node \
  && node --version && npm --version
CMD ["node"]
