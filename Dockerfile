# ngx_pds_module on Debian bookworm's own nginx.
#   docker build -t ngx-pds .
#   docker run -p 2583:2583 -v pds-data:/data \
#       -e PDS_HOSTNAME=pds.example.com -e PDS_LISTEN=0.0.0.0 ngx-pds
# Put nginx's TLS (or another proxy) in front for a public hostname.

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
RUN cd tools/plc && npm install --no-audit --no-fund --loglevel=error
ENV PDS_DATA_DIRECTORY=/data \
    PDS_PORT=2583 \
    MODULE=/usr/lib/nginx/modules/ngx_pds_module.so \
    NGX_BIN=/usr/sbin/nginx \
    ROOT=/opt/ngx_pds_module
VOLUME /data
EXPOSE 2583
CMD ["bash", "tools/pds-run"]
