# gracekeeper's image: a static binary on distroless, running as non-root.
# Build: docker build --build-arg VERSION=$(git describe --tags --always) -t gracekeeper .

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
COPY --from=build /out/gracekeeper /usr/local/bin/gracekeeper
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/gracekeeper"]
