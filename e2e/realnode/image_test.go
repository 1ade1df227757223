package realnode

import (
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/gracekeeper/gracekeeper/e2e/ociimage"
)

// The harness imports archives of the release builder's images under every
// name it gives; the image's contents are ociimage's tests' concern.
func TestImageBuildWritesAnArchiveUnderEachName(t *testing.T) {
	out := filepath.Join(t.TempDir(), "pause.tar")
	img := Image{Refs: []string{PauseImage, "example.local/pause:2"}, Spec: ociimage.Spec{Package: modulePath + "/e2e/realnode/pause", Entrypoint: "/pause"}}
	if err := img.Build(t.Context(), out); err != nil {
		t.Fatal(err)
	}
	host, err := ociimage.HostPlatform(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range img.Refs {
		tag, err := name.NewTag(ref)
		if err != nil {
			t.Fatal(err)
		}
		read, err := tarball.ImageFromPath(out, &tag)
		if err != nil {
			t.Fatalf("%s: %v", ref, err)
		}
		cfg, err := read.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Architecture != host.Architecture || cfg.Config.Entrypoint[0] != "/pause" {
			t.Errorf("%s: %s image with entrypoint %q, want %s and /pause", ref, cfg.Architecture, cfg.Config.Entrypoint, host.Architecture)
		}
	}
	if err := (Image{Spec: img.Spec}).Build(t.Context(), out); err == nil {
		t.Error("an image without a name was built")
	}
}

func TestGracekeeperImageIsTheReleaseImage(t *testing.T) {
	img, err := GracekeeperImage(t.Context(), "gracekeeper.local/gracekeeper:realnode")
	if err != nil {
		t.Fatal(err)
	}
	if img.Spec.Entrypoint != "/usr/local/bin/gracekeeper" || img.Spec.User != ociimage.NonRootUser || img.Spec.Labels[ociimage.LabelLicenses] != "Apache-2.0" {
		t.Errorf("spec %+v, want the release image's", img.Spec)
	}
}
