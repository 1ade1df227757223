// Command image builds gracekeeper's multi-architecture image without a
// container engine (`make image`), and pushes it to a registry.
//
//	go run ./e2e/cmd/image [-out bin/image] [-name gracekeeper/gracekeeper:TAG]
//	    [-version V] [-revision SHA] [-platforms linux/amd64,linux/arm64]
//	go run ./e2e/cmd/image push [-insecure] bin/image/oci REGISTRY/REPOSITORY:TAG
//
// The build writes, under -out:
//   - oci/: an OCI image layout holding the image index of every platform, for
//     `crane push --index`, `skopeo copy --all oci:...` or the push subcommand;
//   - gracekeeper-<os>-<arch>.tar: one `docker save` archive per platform,
//     which `ctr -n k8s.io images import` and `docker load` read.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/gracekeeper/gracekeeper/e2e/ociimage"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) > 0 && args[0] == "push" {
		return push(ctx, args[1:], stdout)
	}
	flags := flag.NewFlagSet("image", flag.ContinueOnError)
	out := flags.String("out", "bin/image", "output directory")
	version := flags.String("version", "dev", "the version: main.version and the org.opencontainers.image.version label")
	revision := flags.String("revision", "", "the source's commit, the org.opencontainers.image.revision label")
	ref := flags.String("name", "", "the image's name in the layout and the archives (default gracekeeper/gracekeeper:VERSION)")
	platformList := flags.String("platforms", "linux/amd64,linux/arm64", "comma-separated os/arch[/variant] to build")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if flags.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", flags.Args())
	}
	if *ref == "" {
		*ref = "gracekeeper/gracekeeper:" + strings.TrimPrefix(*version, "+")
	}
	tag, err := name.NewTag(*ref)
	if err != nil {
		return fmt.Errorf("-name %q: %w", *ref, err)
	}
	platforms, err := ociimage.ParsePlatforms(strings.Split(*platformList, ","))
	if err != nil {
		return fmt.Errorf("-platforms: %w", err)
	}
	spec, err := ociimage.Gracekeeper(ctx, *version, *revision, platforms)
	if err != nil {
		return err
	}
	index, err := ociimage.Build(ctx, spec)
	if err != nil {
		return err
	}
	layoutDir := filepath.Join(*out, "oci")
	if err := ociimage.WriteLayout(layoutDir, index, tag); err != nil {
		return err
	}
	digest, err := ociimage.Digest(index)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %s@%s (%s)\n", layoutDir, tag, digest, *platformList)
	for _, p := range platforms {
		archive := filepath.Join(*out, fmt.Sprintf("gracekeeper-%s-%s%s.tar", p.OS, p.Architecture, p.Variant))
		if err := ociimage.WriteArchive(archive, index, p, tag.String()); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: %s for %s\n", archive, tag, p)
	}
	return nil
}

// push copies the image index of an OCI layout to a registry, with the
// credentials of ~/.docker/config.json (docker login, crane auth login).
func push(ctx context.Context, args []string, stdout io.Writer) error {
	flags := flag.NewFlagSet("image push", flag.ContinueOnError)
	insecure := flags.Bool("insecure", false, "talk plain HTTP to the registry")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if flags.NArg() != 2 {
		return errors.New("push: want LAYOUT-DIR REGISTRY/REPOSITORY:TAG")
	}
	var opts []name.Option
	if *insecure {
		opts = append(opts, name.Insecure)
	}
	ref, err := name.ParseReference(flags.Arg(1), opts...)
	if err != nil {
		return fmt.Errorf("push: image name %q: %w", flags.Arg(1), err)
	}
	index, err := ociimage.ReadLayout(flags.Arg(0))
	if err != nil {
		return fmt.Errorf("push: read %s (built by make image?): %w", flags.Arg(0), err)
	}
	if err := remote.WriteIndex(ref, index, remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)); err != nil {
		return fmt.Errorf("push %s: %w", ref, err)
	}
	digest, err := index.Digest()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "pushed %s@%s\n", ref.Context(), digest)
	return nil
}
