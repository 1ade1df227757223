# gracekeeper: run `make help` for the targets.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

K8S_VERSION := v1.37.2
BIN_DIR     := $(CURDIR)/.cache/bin/$(K8S_VERSION)
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS     := -X main.version=$(VERSION)
FUZZTIME    ?= 30s
GO_PACKAGES := ./cmd/... ./webhook/... ./policies/... ./certs/... ./deploy/... ./e2e/...
# staticcheck's release for Go 1.26 (honnef.co/go/tools), built once into .cache/tools.
STATICCHECK_VERSION := v0.8.2
STATICCHECK         := $(CURDIR)/.cache/tools/staticcheck-$(STATICCHECK_VERSION)

export GRACEKEEPER_E2E_BIN := $(BIN_DIR)

.PHONY: help
help: ## Show this help.
	@grep -hE '^[a-zA-Z0-9_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-20s\033[0m %s\n", $$1, $$2}'

.PHONY: build
build: ## Build bin/gracekeeper.
	CGO_ENABLED=0 go build -trimpath -ldflags "$(LDFLAGS)" -o bin/gracekeeper ./cmd/gracekeeper

.PHONY: test
test: lint unit e2e realnode ## Run the whole test suite: lint, unit tests (with fuzz seeds), end-to-end and real-node tests.

.PHONY: unit
unit: ## Run the unit tests, including every fuzz target's seed corpus.
	go test -count=1 $(GO_PACKAGES)

.PHONY: lint
lint: $(STATICCHECK) ## Check gofmt, go vet and staticcheck.
	@out=$$(gofmt -l cmd webhook policies certs deploy e2e); if [[ -n "$$out" ]]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	go vet $(GO_PACKAGES)
	go vet -tags e2e ./e2e/...
	$(STATICCHECK) $(GO_PACKAGES)
	$(STATICCHECK) -tags e2e ./e2e/...

$(STATICCHECK):
	GOBIN=$(CURDIR)/.cache/tools/tmp go install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	mv $(CURDIR)/.cache/tools/tmp/staticcheck $@

.PHONY: fuzz
fuzz: ## Run every fuzz target for FUZZTIME each (default 30s).
	@for pkg in $$(go list $(GO_PACKAGES)); do \
	  for target in $$(go test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "fuzz $$pkg $$target"; go test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

.PHONY: update-golden
update-golden: ## Rewrite the golden files (under testdata/, and deploy/kustomize) from the code.
	UPDATE_GOLDEN=1 go test -count=1 $(GO_PACKAGES)

.PHONY: tools
tools: ## Build the local control plane (etcd, kube-*, kubectl, kwok) into .cache/bin; ~10 min the first time.
	e2e/tools/build.sh $(BIN_DIR)

.PHONY: e2e
e2e: tools build ## Run the end-to-end tests against a real local control plane (kwok's node).
	go test -count=1 -tags e2e -timeout 40m $$(go list -tags e2e ./e2e/... | grep -v /e2e/realnode)

# The real node changes the host, so its tests run only with
# GRACEKEEPER_REAL_NODE=1, as root, with the packages installed; otherwise they
# say so and pass, except under CI=true, where skipping them fails.
.PHONY: realnode
realnode: tools build ## Run the real-node tests (real containers and requests; root, GRACEKEEPER_REAL_NODE=1).
	go test -count=1 -tags e2e -timeout 20m -v ./e2e/realnode/

.PHONY: up
up: tools build ## Start a local cluster with gracekeeper installed; REAL_NODE=1 runs a real node (root).
	go run ./e2e/cmd/up -bin $(BIN_DIR) $(if $(REAL_NODE),-real-node)

.PHONY: down
down: ## Stop the local cluster started by `make up`.
	go run ./e2e/cmd/up -down

.PHONY: generate-kwok-stages
generate-kwok-stages: ## Regenerate e2e/cluster/kwok-stages.yaml after bumping kwok in e2e/tools/go.mod.
	go generate ./e2e/cluster

.PHONY: bench
bench: tools build ## Run the benchmarks and write docs/benchmarks.md.
	go run ./e2e/cmd/bench -gracekeeper bin/gracekeeper $(BENCH_FLAGS)

.PHONY: image
image: ## Build the linux/amd64 and linux/arm64 image into bin/image, with Go only (no container engine).
	go run ./e2e/cmd/image -out bin/image -version $(VERSION) -revision $$(git rev-parse HEAD 2>/dev/null || true) $(if $(IMAGE),-name $(IMAGE))

.PHONY: clean
clean: ## Remove build output (keeps the cached control-plane binaries).
	rm -rf bin
