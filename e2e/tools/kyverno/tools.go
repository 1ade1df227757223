//go:build tools

// Package tools pins Kyverno, which `make bench BENCH_FLAGS=-kyverno` builds
// from this module of its own (go build github.com/kyverno/kyverno/cmd/kyverno)
// to compare with it. It is not a dependency of gracekeeper's module.
package tools

import _ "github.com/kyverno/kyverno/cmd/kyverno"
