package policytest

import (
	"go/build"
	"strings"
	"testing"
)

// TestItImportsNoPackageOfGracekeeper keeps policytest usable from the
// in-package tests of every package, policies' own included: importing one
// of them would be an import cycle there.
func TestItImportsNoPackageOfGracekeeper(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range pkg.Imports {
		if strings.HasPrefix(path, "github.com/gracekeeper/gracekeeper/") {
			t.Errorf("policytest imports %s: the tests of that package could not use policytest", path)
		}
	}
}
