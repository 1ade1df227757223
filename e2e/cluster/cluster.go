// Package cluster runs a real Kubernetes control plane on loopback for
// end-to-end tests and for `make up`: etcd, kube-apiserver,
// kube-controller-manager and kube-scheduler v1.37.2, kwok simulating one
// node and its pods, and optionally the gracekeeper webhook, registered with
// the same webhook configurations users install.
//
// Deployments really roll out: controllers act under their own service
// accounts, kwok acts as a node, and every request goes through the real
// admission chain.
//
// A test starts one and drives it as a user would:
//
//	c, err := cluster.Start(ctx, cluster.Options{BinDir: ".cache/bin/v1.37.2"})
//	...
//	defer c.Stop()
//	err = c.StartWebhook(ctx, gracekeeperBinary, map[string]any{"config": map[string]any{"recreate": "convert"}})
//	stdout, stderr, err := c.Kubectl(ctx, "-n", "demo", "scale", "deployment/web", "--replicas=0")
//
// On a failure, c.Tails(n) shows the end of every process's log (they live
// in c.Dir/logs). Processes die with the test binary, even when it is
// killed; with Options.Detached they outlive it instead (make up), and
// Attach finds them again (make down).
package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Binaries are the programs Options.BinDir must hold (e2e/tools/build.sh
// builds them); kubelet and kube-proxy are for a real node (e2e/realnode).
var Binaries = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", "kwok", "kubelet", "kube-proxy"}

// NodeName is the node kwok simulates. kwok authenticates as this node.
const NodeName = "kwok-node-0"

// Options configure Start.
type Options struct {
	// Dir holds every file of the cluster (data, certificates, kubeconfigs,
	// logs) and is removed by Stop. Empty means a new temporary directory.
	Dir string
	// BinDir holds Binaries. Required.
	BinDir string
	// Detached processes keep running after this program exits (make up);
	// otherwise they are killed with it.
	Detached bool
	// KwokStages is the kwok configuration, Stage objects separated by
	// "---". Empty means StockKwokStages.
	KwokStages string
	// Progress, if set, gets one line per start-up step.
	Progress func(format string, args ...any)
	// Timeout bounds each wait for readiness. Zero means 90 s, which allows
	// for a loaded machine; a healthy start takes a few seconds per step.
	Timeout time.Duration
	// RealNode, if set, is the name of a real node the caller runs
	// (e2e/realnode) in place of kwok's: see realNodeAPIServerArgs for what
	// changes. NodeKubeconfig and ProxyKubeconfig then hold the kubelet's
	// and kube-proxy's credentials. Start returns before the node exists.
	RealNode string
}

// Cluster is a running control plane. Its methods are safe for concurrent use.
type Cluster struct {
	// Dir holds every file of the cluster; Stop removes it.
	Dir string
	// BinDir holds the control-plane binaries, kubectl included.
	BinDir string
	// Kubeconfig is the admin kubeconfig (group system:masters).
	Kubeconfig string
	// Server is the API server's URL.
	Server string
	// WebhookClientCA is the CA file of the client certificate the API server
	// presents to webhooks: pass it to serve --client-ca-file for mutual TLS.
	WebhookClientCA string
	// NodeKubeconfig and ProxyKubeconfig are the credentials of the kubelet
	// (system:node:<RealNode>) and of kube-proxy (system:kube-proxy) when
	// Options.RealNode is set, and empty otherwise.
	NodeKubeconfig, ProxyKubeconfig string

	opts   Options
	config *rest.Config
	client kubernetes.Interface

	mu      sync.Mutex
	procs   []*process
	webhook *webhook
	stopped bool
}

// Start runs a control plane on free loopback ports and returns once it
// serves, kwok's node is Ready and the controllers have created the default
// ServiceAccount. ctx bounds start-up only: the processes keep running until
// Stop. On failure every process started is stopped, and the error ends with
// the tail of each log.
func Start(ctx context.Context, opts Options) (_ *Cluster, err error) {
	if opts.BinDir == "" {
		return nil, errors.New("cluster options: BinDir is required")
	}
	if err := CheckBinaries(opts.BinDir); err != nil {
		return nil, err
	}
	if opts.KwokStages == "" {
		opts.KwokStages = StockKwokStages
	}
	if opts.Timeout == 0 {
		opts.Timeout = 90 * time.Second
	}
	if opts.Progress == nil {
		opts.Progress = func(string, ...any) {}
	}
	binDir, err := filepath.Abs(opts.BinDir)
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", opts.BinDir, err)
	}
	dir, err := makeDir(opts.Dir)
	if err != nil {
		return nil, err
	}
	c := &Cluster{Dir: dir, BinDir: binDir, Kubeconfig: filepath.Join(dir, "kubeconfig"), opts: opts}
	defer func() {
		if err != nil {
			err = fmt.Errorf("%w\n%s", err, c.Tails(25))
			_ = c.Stop()
		}
	}()
	if err := c.start(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// CheckBinaries returns an error naming the build command if binDir lacks
// any of Binaries.
func CheckBinaries(binDir string) error {
	var missing []string
	for _, name := range Binaries {
		if _, err := os.Stat(filepath.Join(binDir, name)); err != nil {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s lacks %s: build them with e2e/tools/build.sh %s",
			binDir, strings.Join(missing, ", "), binDir)
	}
	return nil
}

func makeDir(dir string) (string, error) {
	if dir == "" {
		dir, err := os.MkdirTemp("", "gracekeeper-cluster-")
		if err != nil {
			return "", fmt.Errorf("create cluster dir: %w", err)
		}
		return dir, nil
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("resolve cluster dir %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create cluster dir: %w", err)
	}
	return dir, nil
}

func (c *Cluster) start(ctx context.Context) error {
	started := time.Now()
	ports, err := freePorts(4)
	if err != nil {
		return err
	}
	etcdPort, etcdPeerPort, apiPort, kwokPort := ports[0], ports[1], ports[2], ports[3]
	c.Server = fmt.Sprintf("https://127.0.0.1:%d", apiPort)

	files, err := writeSecrets(c.Dir, c.opts.RealNode)
	if err != nil {
		return err
	}
	c.WebhookClientCA = files.webhookClientCA
	if err := writeKubeconfig(c.Kubeconfig, c.Server, files.caPEM, "admin", files.adminToken); err != nil {
		return err
	}
	if err := c.writeRealNodeKubeconfigs(files); err != nil {
		return err
	}
	kwokKubeconfig := filepath.Join(c.Dir, "kwok.kubeconfig")
	if err := writeKubeconfig(kwokKubeconfig, c.Server, files.caPEM, "system:node:"+NodeName, files.kwokToken); err != nil {
		return err
	}
	stages := filepath.Join(c.Dir, "kwok-stages.yaml")
	if err := os.WriteFile(stages, []byte(c.opts.KwokStages), 0o644); err != nil {
		return fmt.Errorf("write kwok stages: %w", err)
	}
	if err := c.connect(); err != nil {
		return err
	}

	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", etcdPort)
	etcdPeerURL := fmt.Sprintf("http://127.0.0.1:%d", etcdPeerPort)
	if err := c.run("etcd",
		"--data-dir="+filepath.Join(c.Dir, "etcd"),
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+etcdPeerURL, "--initial-advertise-peer-urls="+etcdPeerURL,
		"--initial-cluster=default="+etcdPeerURL,
		// The data is thrown away with the cluster: skip the fsyncs that
		// make a loaded disk slow.
		"--unsafe-no-fsync", "--log-level=warn",
	); err != nil {
		return err
	}
	// The API server would retry etcd, but only once a second.
	if err := c.waitFor(ctx, "etcd health", func(ctx context.Context) (bool, error) {
		return httpOK(ctx, etcdURL+"/health"), nil
	}); err != nil {
		return err
	}

	apiServerArgs := []string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=127.0.0.1", fmt.Sprintf("--secure-port=%d", apiPort),
		// Loopback is no address to publish in the kubernetes Service's
		// endpoints, and nothing here needs them.
		"--advertise-address=127.0.0.1", "--endpoint-reconciler-type=none",
		"--cert-dir=" + filepath.Join(c.Dir, "apiserver"),
		"--tls-cert-file=" + files.servingCert, "--tls-private-key-file=" + files.servingKey,
		"--token-auth-file=" + files.tokens,
		"--authorization-mode=RBAC",
		"--admission-control-config-file=" + files.admissionConfig,
		"--service-account-key-file=" + files.saPub, "--service-account-signing-key-file=" + files.saKey,
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-cluster-ip-range=10.0.0.0/24",
		"--profiling=false",
	}
	auditArgs, err := c.auditArgs()
	if err != nil {
		return err
	}
	apiServerArgs = append(apiServerArgs, auditArgs...)
	if err := c.run("kube-apiserver", withFlags(apiServerArgs, realNodeAPIServerArgs(c.opts.RealNode, files))...); err != nil {
		return err
	}
	if err := c.waitFor(ctx, "kube-apiserver /readyz", func(ctx context.Context) (bool, error) {
		_, err := c.client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		return err == nil, nil
	}); err != nil {
		return err
	}
	c.opts.Progress("kube-apiserver ready at %s (%s)", c.Server, since(started))

	// kwok acts as a node, as a kubelet would: its final pod deletes then come
	// from system:nodes, like a kubelet's. Only RBAC authorizes here, so the
	// node user needs a binding. A real node's kubelet has the Node authorizer.
	if c.opts.RealNode == "" {
		if _, err := c.client.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "kwok-node"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"},
			Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: "system:node:" + NodeName}},
		}, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("bind kwok's node user to cluster-admin: %w", err)
		}
	}

	kubeconfigFlags := []string{"--kubeconfig=" + c.Kubeconfig, "--authentication-kubeconfig=" + c.Kubeconfig, "--authorization-kubeconfig=" + c.Kubeconfig}
	if err := c.run("kube-controller-manager", append(kubeconfigFlags,
		"--service-account-private-key-file="+files.saKey,
		// Each controller calls the API as its own service account, as on a
		// real cluster, so the webhook can tell controllers from people.
		"--use-service-account-credentials=true",
		"--controllers=*,-nodeipam,-serviceaccount-token",
		"--bind-address=127.0.0.1", "--secure-port=0", "--leader-elect=false",
		// The kube-root-ca.crt ConfigMap, which service-account volumes mount.
		"--root-ca-file="+files.caCert,
	)...); err != nil {
		return err
	}
	if err := c.run("kube-scheduler", append(kubeconfigFlags,
		"--bind-address=127.0.0.1", "--secure-port=0", "--leader-elect=false",
	)...); err != nil {
		return err
	}
	if c.opts.RealNode == "" { // else the caller starts the node
		if err := c.startKwok(ctx, kwokKubeconfig, stages, kwokPort); err != nil {
			return err
		}
	}
	if err := c.waitFor(ctx, "the default ServiceAccount (controllers running)", func(ctx context.Context) (bool, error) {
		_, err := c.client.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	}); err != nil {
		return err
	}
	c.opts.Progress("cluster ready (%s)", since(started))
	return nil
}

// startKwok runs kwok as node NodeName and waits until the node is Ready.
func (c *Cluster) startKwok(ctx context.Context, kubeconfig, stages string, port int) error {
	if err := c.runEnv("kwok", []string{"HOME=" + c.Dir}, // no ~/.kwok/kwok.yaml of the user's
		"--kubeconfig="+kubeconfig, "--config="+stages,
		"--manage-all-nodes=false", "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
		"--cidr=10.0.0.1/24", "--node-ip=10.0.0.1",
		fmt.Sprintf("--server-address=127.0.0.1:%d", port),
	); err != nil {
		return err
	}
	if err := c.createNode(ctx); err != nil {
		return err
	}
	return c.waitFor(ctx, "kwok to make node "+NodeName+" Ready", func(ctx context.Context) (bool, error) {
		return c.NodeReady(ctx, NodeName)
	})
}

// connect builds the admin client from the kubeconfig.
func (c *Cluster) connect() error {
	config, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		return fmt.Errorf("load kubeconfig %s: %w", c.Kubeconfig, err)
	}
	config.QPS, config.Burst = 100, 200
	client, err := kubernetes.NewForConfig(config)
	if err != nil {
		return fmt.Errorf("create client: %w", err)
	}
	c.config, c.client = config, client
	return nil
}

func (c *Cluster) createNode(ctx context.Context) error {
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("32"),
		corev1.ResourceMemory: resource.MustParse("256Gi"),
		corev1.ResourcePods:   resource.MustParse("110"),
	}
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        NodeName,
			Annotations: map[string]string{"kwok.x-k8s.io/node": "fake"},
			Labels: map[string]string{
				"kubernetes.io/hostname": NodeName,
				"kubernetes.io/os":       "linux",
				"type":                   "kwok",
			},
		},
		// A Node, unlike most objects, may carry its status on create.
		Status: corev1.NodeStatus{Capacity: capacity, Allocatable: capacity},
	}
	if _, err := c.client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create node %s: %w", NodeName, err)
	}
	return nil
}

// NodeReady reports whether the named node's Ready condition is True; a
// node not registered yet is not ready, and no error.
func (c *Cluster) NodeReady(ctx context.Context, name string) (bool, error) {
	node, err := c.client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return false, nil
	}
	for _, cond := range node.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			return cond.Status == corev1.ConditionTrue, nil
		}
	}
	return false, nil
}

// Client returns a clientset acting as the admin.
func (c *Cluster) Client() kubernetes.Interface { return c.client }

// RESTConfig returns a copy of the admin client configuration.
func (c *Cluster) RESTConfig() *rest.Config { return rest.CopyConfig(c.config) }

// Healthy reports whether the API server answers /readyz.
func (c *Cluster) Healthy(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	_, err := c.client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
	return err == nil
}

// Stop kills every process the cluster started, with SIGKILL to its
// process group, waits for each to exit and removes Dir. Nothing is kept, so
// nothing needs a graceful shutdown, which takes the API server and etcd
// several seconds. If a process survives, Dir is kept so that a later Stop
// can retry. Calling Stop again after it succeeded does nothing.
func (c *Cluster) Stop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return nil
	}
	errs := make([]error, len(c.procs))
	var wg sync.WaitGroup
	for i, p := range c.procs {
		wg.Go(func() { errs[i] = p.stop(0) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("stop cluster in %s: %w", c.Dir, err)
	}
	if err := os.RemoveAll(c.Dir); err != nil {
		return fmt.Errorf("remove cluster dir: %w", err)
	}
	c.stopped = true
	return nil
}

// Tails returns the last lines of every process's log, for a failed test
// to print.
func (c *Cluster) Tails(lines int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var b strings.Builder
	for _, p := range c.procs {
		fmt.Fprintf(&b, "==> %s (%s) <==\n%s", p.Name, p.Log, p.tail(lines))
	}
	return b.String()
}

// Tail returns the last lines of the log of the named process
// ("kube-apiserver", "kwok", "gracekeeper", ...).
func (c *Cluster) Tail(name string, lines int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := len(c.procs) - 1; i >= 0; i-- {
		if c.procs[i].Name == name {
			return c.procs[i].tail(lines)
		}
	}
	return fmt.Sprintf("(no process %q)\n", name)
}

// run starts one of the control-plane binaries and records it.
func (c *Cluster) run(name string, args ...string) error {
	return c.runEnv(name, nil, args...)
}

func (c *Cluster) runEnv(name string, env []string, args ...string) error {
	_, err := c.startRecorded(name, filepath.Join(c.BinDir, name), env, args)
	return err
}

// startRecorded starts a process and saves the state file at once, so that
// make down can stop it even if this program dies before start-up ends.
func (c *Cluster) startRecorded(name, binary string, env, args []string) (*process, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, err := startProcess(c.Dir, name, binary, args, env, c.opts.Detached)
	if err != nil {
		return nil, err
	}
	// A restarted process replaces its predecessor, which has exited.
	if i := slices.IndexFunc(c.procs, func(old *process) bool { return old.Name == name }); i >= 0 {
		c.procs[i] = p
	} else {
		c.procs = append(c.procs, p)
	}
	if err := c.saveState(); err != nil {
		return nil, err
	}
	return p, nil
}

// exitedProcess returns an error for the first recorded process that is no
// longer running, so that waits fail at once instead of timing out.
func (c *Cluster) exitedProcess() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.procs {
		if p.stopped {
			continue // on purpose, by StopWebhook
		}
		if err := p.exitError(); err != nil {
			return err
		}
	}
	return nil
}

// waitFor polls ready every 100 ms until it returns true, an error, a
// process dies, or Options.Timeout passes.
func (c *Cluster) waitFor(ctx context.Context, what string, ready func(context.Context) (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if err := c.exitedProcess(); err != nil {
			return fmt.Errorf("wait for %s: %w", what, err)
		}
		attempt, cancelAttempt := context.WithTimeout(ctx, 5*time.Second)
		ok, err := ready(attempt)
		cancelAttempt()
		if err != nil {
			return fmt.Errorf("wait for %s: %w", what, err)
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %s: %w", what, ctx.Err())
		case <-tick.C:
		}
	}
}

// freePorts returns n distinct free loopback ports. They are held open
// together, so they differ, and released for the processes to bind.
func freePorts(n int) ([]int, error) {
	ports := make([]int, n)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		defer l.Close()
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports, nil
}

func since(t time.Time) time.Duration { return time.Since(t).Round(100 * time.Millisecond) }
