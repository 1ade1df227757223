package realnode

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"time"
)

// Image is a single-layer image holding one static binary and nothing
// else: no base image, no shell, no registry.
type Image struct {
	// Refs are the names it is imported as, e.g. "docker.io/local/app:1".
	// Pods name one of them with imagePullPolicy Never.
	Refs []string
	// Package is the Go package of the binary, built with CGO_ENABLED=0.
	Package string
	// Entrypoint is the binary's absolute path in the image.
	Entrypoint string
	// User is the image's USER ("65532:65532"); empty means root.
	User string
	// LDFlags are passed to go build -ldflags.
	LDFlags string
}

// BuildStatic builds pkg as a static binary into out.
func BuildStatic(ctx context.Context, pkg, out, ldflags string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", ldflags, "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if output, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build %s: %w\n%s", pkg, err, output)
	}
	return nil
}

// Build builds the binary and writes the image to out as a `docker save`
// archive (manifest.json, config.json, one layer tar), which
// `ctr images import` reads.
func (img Image) Build(ctx context.Context, out string) error {
	if len(img.Refs) == 0 || !path.IsAbs(img.Entrypoint) {
		return fmt.Errorf("image %s: needs at least one ref and an absolute entrypoint, got %q", img.Package, img.Entrypoint)
	}
	tmp, err := os.MkdirTemp("", "realnode-image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "bin")
	if err := BuildStatic(ctx, img.Package, bin, "-s -w "+img.LDFlags); err != nil {
		return err
	}
	binary, err := os.ReadFile(bin)
	if err != nil {
		return err
	}
	layer, err := img.layer(binary)
	if err != nil {
		return err
	}
	return img.writeArchive(out, layer)
}

// layer is the image's file system: the binary, /tmp, and an /etc/passwd
// that names the image's user.
func (img Image) layer(binary []byte) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	epoch := time.Unix(0, 0)
	dirs := map[string]bool{}
	addDirs := func(p string) error {
		var chain []string
		for d := path.Dir(p); d != "/" && !dirs[d]; d = path.Dir(d) {
			chain = append([]string{d}, chain...)
		}
		for _, d := range chain {
			dirs[d] = true
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d[1:] + "/", Mode: 0o755, ModTime: epoch}); err != nil {
				return err
			}
		}
		return nil
	}
	file := func(p string, mode int64, data []byte) error {
		if err := addDirs(p); err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: p[1:], Mode: mode, Size: int64(len(data)), ModTime: epoch}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: "tmp/", Mode: 0o1777, ModTime: epoch}); err != nil {
		return nil, err
	}
	passwd := "root:x:0:0:root:/:/nonexistent\nnobody:x:65534:65534:nobody:/:/nonexistent\nnonroot:x:65532:65532:nonroot:/:/nonexistent\n"
	if err := file("/etc/passwd", 0o644, []byte(passwd)); err != nil {
		return nil, err
	}
	if err := file(img.Entrypoint, 0o755, binary); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func (img Image) writeArchive(out string, layer []byte) error {
	sum := sha256.Sum256(layer)
	config, err := json.Marshal(map[string]any{
		"architecture": runtime.GOARCH,
		"os":           "linux",
		"created":      "1970-01-01T00:00:00Z",
		"config": map[string]any{
			"Entrypoint": []string{img.Entrypoint},
			"Env":        []string{"PATH=/usr/local/bin:/usr/bin:/bin"},
			"WorkingDir": "/",
			"User":       img.User,
		},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{"sha256:" + hex.EncodeToString(sum[:])}},
	})
	if err != nil {
		return err
	}
	manifest, err := json.Marshal([]map[string]any{{"Config": "config.json", "RepoTags": img.Refs, "Layers": []string{"layer.tar"}}})
	if err != nil {
		return err
	}
	f, err := os.Create(out)
	if err != nil {
		return fmt.Errorf("write image: %w", err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	for _, entry := range []struct {
		name string
		data []byte
	}{{"manifest.json", manifest}, {"config.json", config}, {"layer.tar", layer}} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: entry.name, Mode: 0o644, Size: int64(len(entry.data)), ModTime: time.Unix(0, 0)}); err != nil {
			return err
		}
		if _, err := tw.Write(entry.data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return f.Close()
}
