# gracekeeper's image: a static binary on distroless, running as non-root.
# `make image` builds the released image without Docker (e2e/cmd/image); this
# file is for those who build with a container engine:
#   docker build --build-arg VERSION=$(git describe --tags --always) \
#     --build-arg REVISION=$(git rev-parse HEAD) -t gracekeeper .

FROM golang:1.26 AS build
WORKDIR /src
# Modules first, so source edits reuse the download layer.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false \
      -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/gracekeeper ./cmd/gracekeeper

# No shell and no sleep binary: gracekeeper's own preStop uses the native sleep
# action, and the uninstall hook runs `gracekeeper cleanup` from this image.
FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
ARG REVISION=""
LABEL org.opencontainers.image.title="gracekeeper" \
      org.opencontainers.image.source="https://github.com/gracekeeper/gracekeeper" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /out/gracekeeper /usr/local/bin/gracekeeper
COPY LICENSE /usr/share/doc/gracekeeper/LICENSE
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/gracekeeper"]
