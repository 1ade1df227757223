// Package ociimage builds container images of static Go binaries with
// go-containerregistry, without a container engine: `make image` builds
// gracekeeper's release image with it, and the real-node harness builds the
// images it runs (gracekeeper, the test app, pause) with it, so the tests run
// what users deploy.
//
// An image has one layer: the binary at its entrypoint, an /etc/passwd and
// /etc/group that name the non-root user 65532 (as distroless's), an empty
// /tmp, and extra files such as the LICENSE. Files and the config carry the
// Unix epoch as their time, so the same source gives the same digests.
package ociimage

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The OCI annotation and label keys (image-spec annotations.md).
const (
	LabelSource   = "org.opencontainers.image.source"
	LabelRevision = "org.opencontainers.image.revision"
	LabelVersion  = "org.opencontainers.image.version"
	LabelLicenses = "org.opencontainers.image.licenses"
	LabelTitle    = "org.opencontainers.image.title"
	// refNameAnnotation names an image in an OCI layout's index.json: its
	// tag, as `skopeo copy oci:DIR:TAG` reads it (image-spec image-layout.md).
	refNameAnnotation = "org.opencontainers.image.ref.name"
)

// NonRootUser is the image's user when Spec.User asks for non-root: distroless's nonroot.
const NonRootUser = "65532:65532"

// Spec says what to build.
type Spec struct {
	// Package is the Go package of the binary, built with CGO_ENABLED=0.
	Package string
	// Entrypoint is the binary's absolute path in the image.
	Entrypoint string
	// User is the image's USER, such as NonRootUser; empty means root.
	User string
	// LDFlags are passed to go build -ldflags, after -s -w.
	LDFlags string
	// Platforms to build; empty means the host's (linux and GOARCH of `go env`).
	Platforms []v1.Platform
	// Labels go into each image's config and, as annotations, onto its
	// manifest and the index.
	Labels map[string]string
	// Files are more files in the layer, by absolute path.
	Files map[string][]byte
}

// Build compiles the binary for each platform and returns the images, in the
// order of spec.Platforms, as an OCI image index. The Go toolchain's own
// cross-compilation builds each platform; nothing runs in an emulator.
func Build(ctx context.Context, spec Spec) (v1.ImageIndex, error) {
	if !path.IsAbs(spec.Entrypoint) || spec.Package == "" {
		return nil, fmt.Errorf("image of %q: needs a package and an absolute entrypoint, got %q", spec.Package, spec.Entrypoint)
	}
	platforms := spec.Platforms
	if len(platforms) == 0 {
		host, err := HostPlatform(ctx)
		if err != nil {
			return nil, err
		}
		platforms = []v1.Platform{host}
	}
	tmp, err := os.MkdirTemp("", "ociimage-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)

	var index v1.ImageIndex = mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, p := range platforms {
		if p.OS != "linux" {
			return nil, fmt.Errorf("image of %s: platform %s: only linux images are built", spec.Package, p)
		}
		bin := filepath.Join(tmp, p.OS+"-"+p.Architecture+p.Variant)
		if err := goBuild(ctx, spec.Package, bin, "-s -w "+spec.LDFlags, p); err != nil {
			return nil, err
		}
		img, err := spec.image(bin, p)
		if err != nil {
			return nil, fmt.Errorf("image of %s for %s: %w", spec.Package, p, err)
		}
		index = mutate.AppendManifests(index, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: &p, Annotations: spec.Labels},
		})
	}
	if len(spec.Labels) > 0 {
		index = mutate.Annotations(index, spec.Labels).(v1.ImageIndex)
	}
	return index, nil
}

// HostPlatform is linux on the architecture `go env GOARCH` builds for.
func HostPlatform(ctx context.Context) (v1.Platform, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOARCH").Output()
	if err != nil {
		return v1.Platform{}, fmt.Errorf("go env GOARCH: %w", err)
	}
	return v1.Platform{OS: "linux", Architecture: string(bytes.TrimSpace(out))}, nil
}

// ParsePlatforms reads "linux/amd64,linux/arm64/v8".
func ParsePlatforms(list []string) ([]v1.Platform, error) {
	var out []v1.Platform
	for _, s := range list {
		p, err := v1.ParsePlatform(s)
		if err != nil || p.OS == "" || p.Architecture == "" {
			return nil, fmt.Errorf("platform %q: want os/arch[/variant], such as linux/arm64", s)
		}
		out = append(out, *p)
	}
	return out, nil
}

func goBuild(ctx context.Context, pkg, out, ldflags string, p v1.Platform) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", ldflags, "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+p.OS, "GOARCH="+p.Architecture)
	if p.Architecture == "arm" && p.Variant != "" {
		cmd.Env = append(cmd.Env, "GOARM="+p.Variant[len(p.Variant)-1:])
	}
	if output, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s for %s: %w\n%s", pkg, p, err, output)
	}
	return nil
}

func (spec Spec) image(bin string, p v1.Platform) (v1.Image, error) {
	binary, err := os.ReadFile(bin)
	if err != nil {
		return nil, err
	}
	files := maps.Clone(spec.Files)
	if files == nil {
		files = map[string][]byte{}
	}
	files["/etc/passwd"] = []byte("root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")
	files["/etc/group"] = []byte("root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n")
	files[spec.Entrypoint] = binary
	data, err := layerTar(files, spec.Entrypoint)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	if img, err = mutate.AppendLayers(img, layer); err != nil {
		return nil, err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture, cfg.Variant = p.OS, p.Architecture, p.Variant
	cfg.Created = v1.Time{Time: time.Unix(0, 0).UTC()}
	cfg.Config.Entrypoint = []string{spec.Entrypoint}
	cfg.Config.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin"}
	cfg.Config.WorkingDir = "/"
	cfg.Config.User = spec.User
	cfg.Config.Labels = spec.Labels
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		return nil, err
	}
	if len(spec.Labels) > 0 {
		img = mutate.Annotations(img, spec.Labels).(v1.Image)
	}
	return img, nil
}

// layerTar writes files, their parent directories and an empty /tmp, in path
// order; executable is the one file with mode 0755.
func layerTar(files map[string][]byte, executable string) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	epoch := time.Unix(0, 0)
	dirs := map[string]bool{"/tmp": true}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: "tmp/", Mode: 0o1777, ModTime: epoch}); err != nil {
		return nil, err
	}
	for _, p := range slices.Sorted(maps.Keys(files)) {
		if !path.IsAbs(p) || path.Clean(p) != p {
			return nil, fmt.Errorf("file %q: want a clean absolute path", p)
		}
		var chain []string
		for d := path.Dir(p); d != "/" && !dirs[d]; d = path.Dir(d) {
			chain = append([]string{d}, chain...)
		}
		for _, d := range chain {
			dirs[d] = true
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d[1:] + "/", Mode: 0o755, ModTime: epoch}); err != nil {
				return nil, err
			}
		}
		mode := int64(0o644)
		if p == executable {
			mode = 0o755
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: p[1:], Mode: mode, Size: int64(len(files[p])), ModTime: epoch}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(files[p]); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// WriteLayout writes index as an OCI image layout in dir (created, or
// replaced), with ref's tag as its name in index.json: `crane push --index
// dir REF`, `skopeo copy --all oci:dir docker://REF` and `go run
// ./e2e/cmd/image push` read it.
func WriteLayout(dir string, index v1.ImageIndex, ref name.Reference) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return fmt.Errorf("write OCI layout %s: %w", dir, err)
	}
	return p.AppendIndex(index, layout.WithAnnotations(map[string]string{refNameAnnotation: ref.Identifier()}))
}

// ReadLayout reads back the image index that WriteLayout wrote to dir.
func ReadLayout(dir string) (v1.ImageIndex, error) {
	p, err := layout.FromPath(dir)
	if err != nil {
		return nil, err
	}
	outer, err := p.ImageIndex()
	if err != nil {
		return nil, err
	}
	m, err := outer.IndexManifest()
	if err != nil {
		return nil, err
	}
	if len(m.Manifests) != 1 {
		return nil, fmt.Errorf("OCI layout %s: index.json has %d entries, want the one image index", dir, len(m.Manifests))
	}
	return outer.ImageIndex(m.Manifests[0].Digest)
}

// Image returns index's image for platform p.
func Image(index v1.ImageIndex, p v1.Platform) (v1.Image, error) {
	m, err := index.IndexManifest()
	if err != nil {
		return nil, err
	}
	var have []string
	for _, d := range m.Manifests {
		if d.Platform != nil && d.Platform.Satisfies(p) {
			return index.Image(d.Digest)
		}
		if d.Platform != nil {
			have = append(have, d.Platform.String())
		}
	}
	return nil, fmt.Errorf("no image for %s; the index has %v", p, have)
}

// WriteArchive writes index's image for platform p as a `docker save`
// archive named refs, which `ctr images import` and `docker load` read.
func WriteArchive(out string, index v1.ImageIndex, p v1.Platform, refs ...string) error {
	img, err := Image(index, p)
	if err != nil {
		return err
	}
	if len(refs) == 0 {
		return fmt.Errorf("archive %s: needs at least one image name", out)
	}
	named := map[name.Reference]v1.Image{}
	for _, r := range refs {
		tag, err := name.NewTag(r)
		if err != nil {
			return fmt.Errorf("archive %s: image name %q: %w", out, r, err)
		}
		named[tag] = img
	}
	if err := tarball.MultiRefWriteToFile(out, named); err != nil {
		return fmt.Errorf("write image archive %s: %w", out, err)
	}
	return nil
}

// Digest returns the index's digest, the one a registry serves it by.
func Digest(index v1.ImageIndex) (v1.Hash, error) {
	return partial.Digest(index)
}

// Module is gracekeeper's Go module path.
const Module = "github.com/gracekeeper/gracekeeper"

// Gracekeeper is the spec of gracekeeper's release image, the one place
// that says what it holds: `make image` builds it, and so does the
// real-node harness. As the Dockerfile's: the static binary at
// /usr/local/bin/gracekeeper, user 65532, no shell, with the LICENSE at
// /usr/share/doc/gracekeeper/LICENSE and the OCI labels.
func Gracekeeper(ctx context.Context, version, revision string, platforms []v1.Platform) (Spec, error) {
	out, err := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}", Module).Output()
	if err != nil {
		return Spec{}, fmt.Errorf("find the %s module: %w (run it inside the module)", Module, err)
	}
	license, err := os.ReadFile(filepath.Join(string(bytes.TrimSpace(out)), "LICENSE"))
	if err != nil {
		return Spec{}, err
	}
	labels := map[string]string{
		LabelTitle:    "gracekeeper",
		LabelSource:   "https://" + Module,
		LabelVersion:  version,
		LabelLicenses: "Apache-2.0",
	}
	if revision != "" {
		labels[LabelRevision] = revision
	}
	return Spec{
		Package:    Module + "/cmd/gracekeeper",
		Entrypoint: "/usr/local/bin/gracekeeper",
		User:       NonRootUser,
		LDFlags:    "-X main.version=" + version,
		Platforms:  platforms,
		Labels:     labels,
		Files:      map[string][]byte{"/usr/share/doc/gracekeeper/LICENSE": license},
	}, nil
}
