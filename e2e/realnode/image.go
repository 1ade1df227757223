package realnode

import (
	"context"
	"fmt"

	"github.com/gracekeeper/gracekeeper/e2e/ociimage"
)

// Image is an image the node runs, built by ociimage, the builder of
// `make image`, for the host's platform and imported as a `docker save`
// archive (see Node.ImportImage).
type Image struct {
	// Refs are the names it is imported as, e.g. "docker.io/local/app:1".
	// Pods name one of them with imagePullPolicy Never.
	Refs []string
	// Spec says what it holds; its Platforms are ignored.
	Spec ociimage.Spec
}

// GracekeeperImage is gracekeeper's release image, as `make image` builds
// it, for the host's platform, named ref.
func GracekeeperImage(ctx context.Context, ref string) (Image, error) {
	spec, err := ociimage.Gracekeeper(ctx, "realnode", "", nil)
	if err != nil {
		return Image{}, err
	}
	return Image{Refs: []string{ref}, Spec: spec}, nil
}

// Build builds the image for the host's platform and writes it to out as a
// `docker save` archive, which `ctr images import` reads.
func (img Image) Build(ctx context.Context, out string) error {
	if len(img.Refs) == 0 {
		return fmt.Errorf("image of %s: needs at least one name", img.Spec.Package)
	}
	host, err := ociimage.HostPlatform(ctx)
	if err != nil {
		return err
	}
	spec := img.Spec
	spec.Platforms = nil
	index, err := ociimage.Build(ctx, spec)
	if err != nil {
		return err
	}
	return ociimage.WriteArchive(out, index, host, img.Refs...)
}
