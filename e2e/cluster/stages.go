package cluster

import _ "embed"

// StockKwokStages are kwok's own stages for a node that is ready at once,
// its heartbeat, and the usual pod lifecycle. They are copied from the kwok
// module that e2e/tools builds, so start-up needs neither the Go toolchain
// nor the module cache.
//
//go:generate go run ./internal/genstages -tools ../tools -o kwok-stages.yaml
//go:embed kwok-stages.yaml
var StockKwokStages string
