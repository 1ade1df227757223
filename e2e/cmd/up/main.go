// Command up starts a local Kubernetes control plane with gracekeeper
// installed, in the background, for trying gracekeeper by hand (make up);
// with -down it stops it and removes its files (make down).
//
// Run it from the repository's top directory:
//
//	go run ./e2e/cmd/up          # make up
//	go run ./e2e/cmd/up -down    # make down
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
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gracekeeper/gracekeeper/e2e/cluster"
	"github.com/gracekeeper/gracekeeper/e2e/ociimage"
	"github.com/gracekeeper/gracekeeper/e2e/realnode"
)

// namespaces are created for the demo, one per mode.
var namespaces = map[string]string{"demo": "enforce", "demo-audit": "audit"}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "up:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	flags := flag.NewFlagSet("up", flag.ContinueOnError)
	flags.SetOutput(stderr)
	down := flags.Bool("down", false, "stop the cluster and remove its directory")
	dir := flags.String("dir", ".up", "directory for the cluster's files and logs")
	binDir := flags.String("bin", filepath.Join(".cache", "bin", "v1.37.2"), "directory of the control-plane binaries (built there if missing)")
	realNode := flags.Bool("real-node", false, "run a real node (containerd, kubelet, kube-proxy) instead of kwok's; needs root and the packages of "+realnode.InstallCommand)
	if err := flags.Parse(args); err != nil {
		return err
	}
	dirAbs, err := filepath.Abs(*dir)
	if err != nil {
		return fmt.Errorf("resolve %s: %w", *dir, err)
	}
	if !*down {
		if _, err := os.Stat(filepath.Join("e2e", "tools", "build.sh")); err != nil {
			return errors.New("run it from the repository's top directory (make up)")
		}
	}
	unlock, err := lock(dirAbs)
	if err != nil {
		return err
	}
	defer unlock()
	if *down {
		return stopCluster(dirAbs, stdout)
	}
	return startCluster(ctx, dirAbs, *binDir, *realNode, stdout, stderr)
}

// lock takes an exclusive lock on dir, creating it, so that a second make up
// or make down waits for nothing and touches nothing while one runs. The
// lock goes with this process; the detached cluster does not inherit it.
func lock(dir string) (unlock func(), err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	f, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("another make up or make down is running on %s", dir)
		}
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	return func() { f.Close() }, nil
}

func startCluster(ctx context.Context, dir, binDir string, realNode bool, stdout, stderr io.Writer) error {
	switch c, err := cluster.Attach(dir); {
	case err == nil && c.Healthy(ctx):
		fmt.Fprintf(stdout, "gracekeeper's local cluster is already up (%s).\n", c.Server)
		printUsage(stdout, c)
		return nil
	case err == nil:
		fmt.Fprintf(stderr, "Found a cluster in %s that no longer answers; stopping what is left of it.\n", dir)
		if err := stopCluster(dir, io.Discard); err != nil {
			return err
		}
	case !errors.Is(err, cluster.ErrNotRunning):
		return err
	}

	started := time.Now()
	if err := cluster.BuildBinaries(ctx, ".", binDir, stderr); err != nil {
		return err
	}
	// Build into the cluster's directory, so that rebuilding the repository's
	// binary never changes the one running; printUsage puts it on PATH.
	binary := filepath.Join(binPath(dir), "gracekeeper")
	if err := os.MkdirAll(binPath(dir), 0o755); err != nil {
		return fmt.Errorf("create %s: %w", binPath(dir), err)
	}
	fmt.Fprintln(stderr, "building gracekeeper")
	if err := cluster.BuildGracekeeper(ctx, binary); err != nil {
		return err
	}
	progress := func(format string, args ...any) { fmt.Fprintf(stderr, format+"\n", args...) }
	var c *cluster.Cluster
	stop := func() error { return c.Stop() }
	if realNode {
		n, err := startRealNode(ctx, dir, binDir, progress)
		if err != nil {
			return err
		}
		c, stop = n.Cluster, n.Stop
	} else {
		var err error
		if c, err = cluster.Start(ctx, cluster.Options{Dir: dir, BinDir: binDir, Detached: true, Progress: progress}); err != nil {
			return err
		}
	}
	if err := installGracekeeper(ctx, c, binary); err != nil {
		return errors.Join(err, stop())
	}
	fmt.Fprintf(stdout, "gracekeeper's local cluster is up (%s), in %s.\n", c.Server, time.Since(started).Round(time.Second))
	printUsage(stdout, c)
	if realNode {
		printRealNodeUsage(stdout)
	}
	return nil
}

// testAppImage is the image of e2e/realnode/testapp that a real node gets,
// for pods to try with at once.
const testAppImage = "docker.io/local/app:1"

// startRealNode runs a real node in place of kwok's, with the test app's
// image imported.
func startRealNode(ctx context.Context, dir, binDir string, progress func(string, ...any)) (*realnode.Node, error) {
	if err := realnode.Check(binDir); err != nil {
		return nil, err
	}
	archive := filepath.Join(dir, "app.tar")
	img := realnode.Image{Refs: []string{testAppImage}, Spec: ociimage.Spec{Package: ociimage.Module + "/e2e/realnode/testapp", Entrypoint: "/app"}}
	if err := img.Build(ctx, archive); err != nil {
		return nil, err
	}
	return realnode.Start(ctx, realnode.Options{Dir: dir, BinDir: binDir, Detached: true, Images: []string{archive}, Progress: progress})
}

func printRealNodeUsage(w io.Writer) {
	fmt.Fprintf(w, `
The node %[1]s is real: containerd runs the containers and kube-proxy routes
each Service's ClusterIP on this machine, so curl reaches your pods. Nothing is
pulled: import images in "docker save" format (imagePullPolicy IfNotPresent or
Never finds them).
%[2]s answers HTTP on :8080 and exits at once on SIGTERM:

  kubectl -n demo create deployment web --image=%[2]s --replicas=3
  kubectl -n demo expose deployment web --port=80 --target-port=8080
  curl http://$(kubectl -n demo get service web -o jsonpath='{.spec.clusterIP}')/
  ctr --address %[3]s -n k8s.io images import IMAGE.tar   # your own image

make down stops the node and restores the host (sysctls, iptables, the bridge).
`, realnode.NodeName, testAppImage, filepath.Join(realnode.RunDir, "containerd.sock"))
}

// installGracekeeper starts the webhook with the chart's default values and
// creates one namespace per mode.
func installGracekeeper(ctx context.Context, c *cluster.Cluster, binary string) error {
	if err := c.StartWebhook(ctx, binary, nil); err != nil {
		return err
	}
	for name, mode := range namespaces {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"gracekeeper.io/mode": mode}}}
		if _, err := c.Client().CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create namespace %s: %w", name, err)
		}
	}
	return nil
}

func stopCluster(dir string, stdout io.Writer) error {
	if n, err := realnode.Attach(dir); err == nil {
		running := n.Running()
		if err := n.Stop(); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Stopped %d processes, restored the host and removed %s.\n", running, dir)
		return nil
	} else if !errors.Is(err, realnode.ErrNoNode) {
		return err
	}
	c, err := cluster.Attach(dir)
	if errors.Is(err, cluster.ErrNotRunning) {
		// A start that died before its first process leaves only files.
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("remove %s: %w", dir, err)
		}
		fmt.Fprintln(stdout, "Nothing is up.")
		return nil
	}
	if err != nil {
		return err
	}
	running := c.Running()
	if err := c.Stop(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Stopped %d processes and removed %s.\n", running, dir)
	return nil
}

// binPath is the directory of the gracekeeper binary the cluster runs, which
// the printed PATH also gives the shell, for gracekeeper audit and check.
func binPath(dir string) string { return filepath.Join(dir, "bin") }

func printUsage(w io.Writer, c *cluster.Cluster) {
	fmt.Fprintf(w, `
Use it from your shell (kubectl, and the gracekeeper the cluster runs):

  export KUBECONFIG=%s
  export PATH=%s:%s:$PATH

Namespace demo is in enforce mode, demo-audit in audit mode. Try:

  kubectl -n demo create deployment web --image=nginx:1.18 --replicas=3
  kubectl -n demo get pods -o jsonpath='{.items[0].spec.containers[0].lifecycle}{"\n"}'
  kubectl -n demo rollout restart deployment/web                 # the graceful way: allowed
  kubectl -n demo rollout history deployment/web                 # each revision says what changed (change-cause)
  kubectl -n demo scale deployment/web --replicas=0              # denied
  kubectl -n demo delete deployment/web                          # denied, with the alternative
  kubectl -n demo delete pod --force --grace-period=0 -l app=web # denied for running pods (not starting or terminating ones)
  kubectl -n demo-audit create deployment web --image=nginx:1.18 # allowed, with warnings
  kubectl -n demo-audit delete deployment/web                    # allowed, with a warning
  kubectl label namespace demo gracekeeper.io/mode=enforc --overwrite  # typo: denied
  gracekeeper audit -A                                           # what enforce would do to what runs

Logs are in %s. What gracekeeper did to each write is in the API server's
audit log, as annotations such as enforce.validate.gracekeeper.io/denied:

  jq -c 'select(.annotations) | [.verb, .objectRef.resource, .objectRef.name, .annotations]' %s

Stop it all with: make down
`, c.Kubeconfig, binPath(c.Dir), c.BinDir, filepath.Join(c.Dir, "logs"), c.AuditLog())
}
