package cluster

import (
	"slices"
	"testing"
)

func TestWithFlagsReplacesEachFlagOnceAndAppendsNewOnes(t *testing.T) {
	args := []string{"--authorization-mode=RBAC", "--profiling=false", "--service-cluster-ip-range=10.0.0.0/24"}
	got := withFlags(args, []string{"--authorization-mode=Node,RBAC", "--allow-privileged=true", "--service-cluster-ip-range=10.96.0.0/24"})
	want := []string{"--authorization-mode=Node,RBAC", "--profiling=false", "--service-cluster-ip-range=10.96.0.0/24", "--allow-privileged=true"}
	if !slices.Equal(got, want) {
		t.Errorf("withFlags = %q, want %q", got, want)
	}
	if args[0] != "--authorization-mode=RBAC" {
		t.Errorf("withFlags changed its input: %q", args)
	}
	if got := withFlags(args, nil); !slices.Equal(got, args) {
		t.Errorf("withFlags without overrides = %q, want %q", got, args)
	}
}
