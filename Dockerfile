# ngx_pds_module on Debian bookworm's own nginx.
#   docker build -t ngx-pds .
#   docker run -p 2583:2583 -v pds-data:/data \
#       -e PDS_HOSTNAME=pds.example.com -e PDS_LISTEN=0.0.0.0 ngx-pds
# To see the nginx.conf a set of -e variables gives, without starting:
#   docker run --rm -e PDS_HOSTNAME=... ngx-pds bash tools/pds-run --config-only
# Put nginx's TLS (or another proxy) in front for a public hostname.
# With a PDS_HOSTNAME other than localhost and no PDS_DID_PLC_URL, DIDs are
# registered at https://plc.directory, as the reference PDS does; the local
# PLC directory (tools/plc) is started only for PDS_HOSTNAME=localhost.
# The Lexicon schemas are installed at build time by a Node 22 stage
# (Debian 12's Node 18 cannot load today's @atproto/api: ERR_REQUIRE_ESM).

FROM debian:bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential ca-certificates nginx nginx-dev \
      liblmdb-dev libjansson-dev libssl-dev libsecp256k1-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY config Makefile ./
COPY ngx_pds_module ./ngx_pds_module
RUN make module

FROM node:22-bookworm-slim AS lexicons
COPY tools/lexicons /src/tools/lexicons
RUN bash /src/tools/lexicons /lexicons /tmp/npm-cache-api && rm -rf /tmp/npm-cache-api

FROM debian:bookworm
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      ca-certificates nginx liblmdb0 libjansson4 libssl3 libsecp256k1-1 \
      openssl \
      nodejs npm \
 && rm -rf /var/lib/apt/lists/* \
 && rm -f /etc/nginx/sites-enabled/default
WORKDIR /opt/ngx_pds_module
COPY --from=build /src/build/ngx_pds_module.so /usr/lib/nginx/modules/
COPY tools ./tools
COPY --from=lexicons /lexicons ./lexicons
RUN cd tools/plc && npm install --no-audit --no-fund --loglevel=error
ENV PDS_DATA_DIRECTORY=/data \
    PDS_PORT=2583 \
    MODULE=/usr/lib/nginx/modules/ngx_pds_module.so \
    NGX_BIN=/usr/sbin/nginx \
    ROOT=/opt/ngx_pds_module \
    PDS_LEXICONS_DIR=/opt/ngx_pds_module/lexicons
VOLUME /data
EXPOSE 2583
CMD ["bash", "tools/pds-run"]
