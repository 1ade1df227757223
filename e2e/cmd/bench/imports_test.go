package main

import (
	"go/build"
	"path/filepath"
	"strings"
	"testing"
)

// TestTheLabDrivesGracekeeperThroughItsBinary holds the lab to what it may
// import of gracekeeper: the chart's rendering (deploy), the configuration
// types, the objects and reviews the benchmarks share (policies/policytest,
// which imports no package of gracekeeper) and the lab's own packages under
// e2e/. It learns the rest from the binary, so that an engine change never
// edits it.
func TestTheLabDrivesGracekeeperThroughItsBinary(t *testing.T) {
	const module = "github.com/gracekeeper/gracekeeper/"
	allowed := []string{module + "deploy", module + "policies/api/v1alpha1", module + "policies/policytest", module + "e2e/"}
	for _, dir := range []string{".", "../../bench", "../../bench/noop"} {
		pkg, err := build.ImportDir(dir, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, path := range pkg.Imports {
			if !strings.HasPrefix(path, module) {
				continue
			}
			ok := false
			for _, a := range allowed {
				ok = ok || path == a || strings.HasSuffix(a, "/") && strings.HasPrefix(path, a)
			}
			if !ok {
				t.Errorf("%s imports %s: ask the gracekeeper binary instead (served.go)", filepath.Join("e2e", "cmd", "bench", dir), path)
			}
		}
	}
}
