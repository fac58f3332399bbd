# kubegrant-operator image, the one charts/kubegrant runs (image.repository / image.tag).
#   docker build -t ghcr.io/kubegrant/kubegrant-operator:0.1.0 .
# Not built by this repository's CI: its machines have no container engine (README
# "Install on a cluster"). Build stage: Debian 12 with the toolchain and -dev packages of
# .ci/install-deps.sh; run stage: Debian 12 slim with only the shared libraries the binary links
# (ldd build/operator/kubegrant-operator), CA certificates, and no shell use: the entrypoint is
# the binary itself, run as an unprivileged uid (the chart also sets runAsNonRoot, a read-only
# root filesystem and drops every capability).

FROM debian:12 AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      cmake ninja-build g++ make pkg-config \
      libcpprest-dev libyaml-cpp-dev nlohmann-json3-dev libssl-dev libfmt-dev \
      libgtest-dev libgmock-dev libpq-dev zlib1g-dev libcli11-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
 && cmake --build /build --target kubegrant-operator kubegrant-certs -j "$(nproc)" \
 && strip --strip-debug /build/operator/kubegrant-operator /build/webhooks/server/kubegrant-certs

FROM debian:12-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates libcpprest2.10 libyaml-cpp0.7 libfmt9 libssl3 libpq5 zlib1g \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /build/operator/kubegrant-operator /usr/local/bin/kubegrant-operator
COPY --from=build /build/webhooks/server/kubegrant-certs /usr/local/bin/kubegrant-certs
USER 65532:65532
EXPOSE 9443 8080 8081
ENTRYPOINT ["/usr/local/bin/kubegrant-operator"]
