package ociimage

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"io"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

var (
	amd64 = v1.Platform{OS: "linux", Architecture: "amd64"}
	arm64 = v1.Platform{OS: "linux", Architecture: "arm64"}
)

// testSpec is a small image: the real-node harness's pause binary, which
// builds in seconds for each platform.
func testSpec() Spec {
	return Spec{
		Package:    Module + "/e2e/realnode/pause",
		Entrypoint: "/usr/local/bin/pause",
		User:       NonRootUser,
		Platforms:  []v1.Platform{amd64, arm64},
		Labels:     map[string]string{LabelSource: "https://" + Module, LabelRevision: "abc123", LabelVersion: "v9.9.9", LabelLicenses: "Apache-2.0"},
		Files:      map[string][]byte{"/usr/share/doc/pause/LICENSE": []byte("license text")},
	}
}

func TestImagesReadBackFromTheLayoutAndTheArchive(t *testing.T) {
	spec := testSpec()
	index, err := Build(t.Context(), spec)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ref, _ := name.NewTag("registry.example.com/team/pause:v9.9.9")
	if err := WriteLayout(filepath.Join(dir, "oci"), index, ref); err != nil {
		t.Fatal(err)
	}
	read, err := ReadLayout(filepath.Join(dir, "oci"))
	if err != nil {
		t.Fatal(err)
	}
	outer, err := layout.ImageIndexFromPath(filepath.Join(dir, "oci"))
	if err != nil {
		t.Fatal(err)
	}
	if om, err := outer.IndexManifest(); err != nil || om.Manifests[0].Annotations[refNameAnnotation] != "v9.9.9" {
		t.Errorf("index.json %+v (%v), want the image named by its tag v9.9.9", om, err)
	}
	m, err := read.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if m.MediaType != types.OCIImageIndex || len(m.Manifests) != 2 {
		t.Fatalf("index %s with %d manifests, want an OCI index of 2", m.MediaType, len(m.Manifests))
	}
	if m.Annotations[LabelRevision] != "abc123" {
		t.Errorf("index annotations %v lack the revision", m.Annotations)
	}
	machines := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}
	for _, p := range spec.Platforms {
		img, err := Image(read, p)
		if err != nil {
			t.Fatal(err)
		}
		checkImage(t, img, p, spec, machines[p.Architecture])

		archive := filepath.Join(dir, p.Architecture+".tar")
		if err := WriteArchive(archive, read, p, ref.String(), "local/pause:1"); err != nil {
			t.Fatal(err)
		}
		for _, r := range []string{ref.String(), "local/pause:1"} {
			tag, _ := name.NewTag(r)
			fromArchive, err := tarball.ImageFromPath(archive, &tag)
			if err != nil {
				t.Fatalf("%s in %s: %v", r, archive, err)
			}
			want, _ := img.ConfigName()
			if got, _ := fromArchive.ConfigName(); got != want {
				t.Errorf("%s: the archive's config %s, want the layout's %s", p, got, want)
			}
			checkImage(t, fromArchive, p, spec, machines[p.Architecture])
		}
	}
	if _, err := Image(read, v1.Platform{OS: "linux", Architecture: "s390x"}); err == nil {
		t.Error("an image for a platform that was not built was found")
	}

	// The same source gives the same image: a rebuild can be checked against a release.
	again, err := Build(t.Context(), spec)
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := Digest(index)
	d2, _ := Digest(again)
	if d1 != d2 {
		t.Errorf("two builds of the same source differ: %s and %s", d1, d2)
	}
}

func checkImage(t *testing.T, img v1.Image, p v1.Platform, spec Spec, machine elf.Machine) {
	t.Helper()
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.OS != p.OS || cfg.Architecture != p.Architecture {
		t.Errorf("%s: config platform %s/%s", p, cfg.OS, cfg.Architecture)
	}
	if len(cfg.Config.Entrypoint) != 1 || cfg.Config.Entrypoint[0] != spec.Entrypoint || cfg.Config.User != NonRootUser {
		t.Errorf("%s: entrypoint %q user %q, want [%s] and %s", p, cfg.Config.Entrypoint, cfg.Config.User, spec.Entrypoint, NonRootUser)
	}
	for k, v := range spec.Labels {
		if cfg.Config.Labels[k] != v {
			t.Errorf("%s: label %s = %q, want %q", p, k, cfg.Config.Labels[k], v)
		}
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("%s: %d layers (%v), want 1", p, len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	files := map[string]*tar.Header{}
	var binary []byte
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		files["/"+h.Name] = h
		if "/"+h.Name == spec.Entrypoint {
			binary, _ = io.ReadAll(tr)
		}
	}
	for _, want := range []string{"/tmp/", "/etc/passwd", "/etc/group", "/usr/share/doc/pause/LICENSE", spec.Entrypoint} {
		if files[want] == nil {
			t.Errorf("%s: the layer lacks %s", p, want)
		}
	}
	if h := files[spec.Entrypoint]; h != nil && h.Mode != 0o755 {
		t.Errorf("%s: entrypoint mode %#o, want 0755", p, h.Mode)
	}
	f, err := elf.NewFile(bytes.NewReader(binary))
	if err != nil {
		t.Fatalf("%s: the entrypoint is not an ELF binary: %v", p, err)
	}
	if f.Machine != machine {
		t.Errorf("%s: the binary is built for %s, want %s", p, f.Machine, machine)
	}
}

func TestBuildRefusesBadSpecs(t *testing.T) {
	for _, spec := range []Spec{
		{Package: Module + "/e2e/realnode/pause", Entrypoint: "pause"},
		{Entrypoint: "/pause"},
		{Package: Module + "/e2e/realnode/pause", Entrypoint: "/pause", Platforms: []v1.Platform{{OS: "windows", Architecture: "amd64"}}},
	} {
		if _, err := Build(t.Context(), spec); err == nil {
			t.Errorf("spec %+v built", spec)
		}
	}
	if _, err := ParsePlatforms([]string{"amd64"}); err == nil {
		t.Error("a platform without an OS parsed")
	}
}
