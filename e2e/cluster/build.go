package cluster

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
)

// BuildGracekeeper builds the gracekeeper binary into out with the Go
// toolchain, from the module that holds this package.
func BuildGracekeeper(ctx context.Context, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "github.com/gracekeeper/gracekeeper/cmd/gracekeeper")
	if output, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build gracekeeper: %w\n%s", err, output)
	}
	return nil
}

// BuildBinaries runs e2e/tools/build.sh to build any of Binaries missing
// from binDir, printing its progress to progress. repoRoot is the
// repository's top directory.
func BuildBinaries(ctx context.Context, repoRoot, binDir string, progress io.Writer) error {
	if CheckBinaries(binDir) == nil {
		return nil
	}
	binDir, err := filepath.Abs(binDir)
	if err != nil {
		return fmt.Errorf("resolve %s: %w", binDir, err)
	}
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(repoRoot, "e2e", "tools", "build.sh"), binDir)
	cmd.Stdout, cmd.Stderr = progress, progress
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("build control-plane binaries into %s: %w", binDir, err)
	}
	return CheckBinaries(binDir)
}
