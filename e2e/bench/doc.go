// Package bench is the lab's side of gracekeeper's benchmarks: the no-op
// kubewebhook server and the minimal webhook's mux that are their floors
// (e2e/bench/noop serves both), a closed-loop HTTPS load generator, and the
// statistics they report. The objects and reviews they send, and the minimal
// webhook itself, are policies/policytest's, which the Go benchmarks of
// packages webhook and policies use too, so that their figures compare.
package bench
