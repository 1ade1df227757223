package main

import (
	"bytes"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/gracekeeper/gracekeeper/e2e/ociimage"
)

// The README's push command copies every platform of the layout to a
// registry, here one in memory on loopback.
func TestPushCopiesTheLayoutToARegistry(t *testing.T) {
	spec := ociimage.Spec{
		Package: ociimage.Module + "/e2e/realnode/pause", Entrypoint: "/pause",
		Platforms: []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}},
		Labels:    map[string]string{ociimage.LabelVersion: "v1"},
	}
	index, err := ociimage.Build(t.Context(), spec)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "oci")
	if err := ociimage.WriteLayout(dir, index, name.MustParseReference("gracekeeper/gracekeeper:v1")); err != nil {
		t.Fatal(err)
	}
	server := httptest.NewServer(registry.New())
	defer server.Close()
	target := strings.TrimPrefix(server.URL, "http://") + "/platform/gracekeeper:v1"

	var out bytes.Buffer
	if err := run(t.Context(), []string{"push", "-insecure", dir, target}, &out); err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(target, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	pulled, err := remote.Index(ref, remote.WithContext(t.Context()))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := index.Digest()
	if got, _ := pulled.Digest(); got != want {
		t.Errorf("the registry serves %s, want the layout's %s", got, want)
	}
	if !strings.Contains(out.String(), want.String()) {
		t.Errorf("push printed %q, want the digest %s", out.String(), want)
	}
	for _, p := range spec.Platforms {
		if _, err := ociimage.Image(pulled, p); err != nil {
			t.Errorf("the pushed index: %v", err)
		}
	}
}

func TestBadArguments(t *testing.T) {
	for _, args := range [][]string{
		{"push", "only-one"},
		{"push", filepath.Join(t.TempDir(), "missing"), "127.0.0.1:1/x:1"},
		{"-platforms", "amd64"},
		{"-name", "UPPER/case:1"},
		{"stray"},
	} {
		if err := run(t.Context(), args, &bytes.Buffer{}); err == nil {
			t.Errorf("run %q succeeded", args)
		}
	}
}
