//go:build e2e

package realnode

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gracekeeper/gracekeeper/e2e/cluster"
	"github.com/gracekeeper/gracekeeper/e2e/ociimage"
)

// env is the node every test shares, set up by TestMain with gracekeeper
// installed from the chart and running as pods on it.
var env struct {
	node *Node
}

const (
	// appImage and appImage2 name the same test app (./testapp), so that
	// `kubectl set image` from one to the other rolls the pods.
	appImage  = "docker.io/local/app:1"
	appImage2 = "docker.io/local/app:2"
	// gracekeeperImage is gracekeeper's own image, built here.
	gracekeeperImage = "gracekeeper.local/gracekeeper:realnode"
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	if os.Getenv(EnableEnv) != "1" {
		fmt.Fprintf(os.Stderr, "realnode: SKIPPED the real-node tests (real containers and requests prove the graceful paths). "+
			"They change the host (iptables, sysctls, a bridge, containerd), so they run only when asked: as root, with "+
			"`%s`, then `%s=1 make realnode`.\n", InstallCommand, EnableEnv)
		if os.Getenv("CI") == "true" {
			fmt.Fprintf(os.Stderr, "realnode: FAIL: CI=true and CI must run the real-node tests: set %s=1 (.ci/run does).\n", EnableEnv)
			return 1
		}
		return 0
	}
	binDir := os.Getenv("GRACEKEEPER_E2E_BIN")
	if binDir == "" {
		binDir = filepath.Join("..", "..", ".cache", "bin", "v1.37.2")
	}
	build, cancelBuild := context.WithTimeout(context.Background(), time.Hour)
	defer cancelBuild()
	if err := cluster.BuildBinaries(build, filepath.Join("..", ".."), binDir, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := Check(binDir); err != nil {
		fmt.Fprintf(os.Stderr, "realnode: FAIL: %s=1 asks for the real-node tests, but %v\n", EnableEnv, err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	images, err := buildImages(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(filepath.Dir(images[0]))
	progress := func(format string, args ...any) { fmt.Fprintf(os.Stderr, "realnode: "+format+"\n", args...) }
	n, err := Start(ctx, Options{BinDir: binDir, Images: images, Progress: progress})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	env.node = n
	code := 1
	defer func() {
		if code != 0 {
			fmt.Fprintln(os.Stderr, n.Tails(40))
		}
		if err := n.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "realnode: stop: %v\n", err)
			code = 1
		}
		progress("stopped; host restored")
	}()
	if err := installGracekeeper(ctx, n); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return code
	}
	progress("gracekeeper runs as pods and the API server calls it through its Service")
	code = m.Run()
	return code
}

// buildImages builds the test app's image and gracekeeper's, and returns
// their archives, in one temporary directory.
func buildImages(ctx context.Context) ([]string, error) {
	dir, err := os.MkdirTemp("", "realnode-images-")
	if err != nil {
		return nil, err
	}
	// gracekeeper's release image, built as `make image` builds it.
	gracekeeper, err := GracekeeperImage(ctx, gracekeeperImage)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	images := map[string]Image{
		"app.tar":         {Refs: []string{appImage, appImage2}, Spec: ociimage.Spec{Package: modulePath + "/e2e/realnode/testapp", Entrypoint: "/app"}},
		"gracekeeper.tar": gracekeeper,
	}
	var paths []string
	for file, img := range images {
		path := filepath.Join(dir, file)
		if err := img.Build(ctx, path); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		paths = append(paths, path)
	}
	return paths, nil
}

// kubectl runs the real kubectl as the admin and fails the test on an error.
func kubectl(t *testing.T, args ...string) string {
	t.Helper()
	return kubectlIn(t, "", args...)
}

func kubectlIn(t *testing.T, input string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, stderr, err := env.node.KubectlInput(ctx, input, args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v", strings.Join(args, " "), err)
	}
	if w := strings.TrimSpace(stderr); w != "" {
		t.Logf("kubectl %s: %s", strings.Join(args, " "), w)
	}
	return out
}
