// Package realnode runs a real Kubernetes node on this machine, next to the
// control plane of e2e/cluster: containerd and runc run real containers, the
// kubelet v1.37.2 runs the pods, the CNI bridge plugin gives them addresses
// in PodCIDR, and kube-proxy (iptables mode) routes Service ClusterIPs (in
// cluster.RealNodeServiceCIDR) to them, for the host and for the API server.
// Requests really flow and processes really get SIGTERM, unlike on kwok's
// simulated node.
//
// It changes the host, so it needs root and the Debian packages in
// Packages, and it is opt-in (see Check). Start records everything it is
// about to change (sysctls, directories, network namespaces) in StateDir;
// Stop, or the Start of a later run after a crash, restores it: pods and
// their cgroups, mounts, network namespaces, the bridge, iptables chains
// (KUBE-*, CNI-*), sysctls, and the state directories. Everything listens on
// 127.0.0.1 but the node's own address, which the kubelet requires to be the
// address of a real interface (that of the default route). Images come from
// no registry: Image builds them, ImportImage loads them.
//
// Two settings these VMs need: containerd's restrict_oom_score_adj (the VM
// withholds CAP_SYS_RESOURCE even from root, so the kubelet's negative
// oom_score_adj fails every sandbox), and the kubelet's failCgroupV1: false
// with the cgroupfs driver (the host runs cgroup v1).
package realnode

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gracekeeper/gracekeeper/e2e/cluster"
	"github.com/gracekeeper/gracekeeper/e2e/ociimage"
)

const (
	// NodeName is the real node's name.
	NodeName = "real-node"
	// PodCIDR is the range the CNI bridge gives pods addresses from.
	PodCIDR = "10.88.0.0/24"
	// StateDir holds containerd's images and containers, the kubelet's
	// files, the CNI configuration and the host record. Its fixed place lets
	// a later run restore the host after a crash.
	StateDir = "/var/lib/gracekeeper-realnode"
	// RunDir holds containerd's state and socket.
	RunDir = "/run/gracekeeper-realnode"
	// Bridge is the CNI bridge interface.
	Bridge = "gkreal0"
	// PauseImage is the sandbox image, built from ./pause.
	PauseImage = "registry.k8s.io/pause:3.10"
	// EnableEnv is the variable that opts in to running a real node.
	EnableEnv = "GRACEKEEPER_REAL_NODE"
	// Packages are the Debian packages a real node needs.
	Packages = "containerd runc iptables containernetworking-plugins conntrack"
	// InstallCommand installs Packages.
	InstallCommand = "sudo apt-get update && sudo apt-get install -y " + Packages
)

// hostPrograms are what Packages install, with the package of each.
var hostPrograms = map[string]string{
	"containerd":                    containerdPackage,
	"containerd-shim-runc-v2":       containerdPackage,
	"ctr":                           containerdPackage,
	"runc":                          "runc",
	"iptables":                      "iptables",
	"conntrack":                     "conntrack",
	"/usr/lib/cni/bridge":           "containernetworking-plugins",
	"/usr/lib/cni/host-local":       "containernetworking-plugins",
	"/usr/lib/cni/loopback":         "containernetworking-plugins",
	"/usr/lib/cni/portmap":          "containernetworking-plugins",
	"/proc/sys/net/ipv4/ip_forward": "(a Linux host)",
}

const containerdPackage = "containerd"

// Check returns nil if this machine can run a real node: root, Linux, the
// programs of Packages, and cluster.Binaries in binDir. Otherwise its
// error says what is missing and how to get it.
func Check(binDir string) error {
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root (it changes iptables, sysctls and network interfaces)")
	}
	for prog, pkg := range hostPrograms {
		if filepath.IsAbs(prog) {
			if _, err := os.Stat(prog); err != nil {
				missing = append(missing, prog+" (package "+pkg+")")
			}
		} else if _, err := exec.LookPath(prog); err != nil {
			missing = append(missing, prog+" (package "+pkg+")")
		}
	}
	if err := cluster.CheckBinaries(binDir); err != nil {
		missing = append(missing, err.Error())
	}
	if len(missing) > 0 {
		return fmt.Errorf("a real node needs %s; install the packages with `%s`",
			strings.Join(missing, ", "), InstallCommand)
	}
	return nil
}

// Options configure Start.
type Options struct {
	// BinDir holds cluster.Binaries. Required.
	BinDir string
	// Images are image archives (see Image) to import before the node
	// registers. The pause image is built and imported by Start.
	Images []string
	// Progress, if set, gets one line per start-up step.
	Progress func(format string, args ...any)
	// Dir and Detached are the cluster's (see cluster.Options). A detached
	// node (make up) outlives this program; Attach finds it again, and until
	// it is stopped no other node starts on this machine.
	Dir      string
	Detached bool
}

// Node is a control plane with one real node. Stop it.
type Node struct {
	// Cluster is the control plane; its processes include containerd, the
	// kubelet and kube-proxy (see Cluster.Tail).
	*cluster.Cluster
	// IP is the node's address: that of the default route's interface.
	IP string

	lock     *os.File
	record   *hostRecord
	started  time.Time
	progress func(string, ...any)
}

const procSys = "/proc/sys"

// Start restores the host from any earlier run that did not stop, records
// the host, and starts a control plane, containerd, the kubelet and
// kube-proxy. It returns once the node is Ready. On failure it undoes
// everything and the error ends with the logs' tails.
func Start(ctx context.Context, opts Options) (_ *Node, err error) {
	if err := Check(opts.BinDir); err != nil {
		return nil, err
	}
	if opts.Progress == nil {
		opts.Progress = func(string, ...any) {}
	}
	ip, err := nodeIP()
	if err != nil {
		return nil, err
	}
	if err := checkRangesFree(); err != nil {
		return nil, err
	}
	n := &Node{IP: ip, started: time.Now(), progress: opts.Progress}
	if n.lock, err = lockHost(); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			if n.Cluster != nil {
				err = fmt.Errorf("%w\n%s", err, n.Tails(25))
			}
			if stopErr := n.Stop(); stopErr != nil {
				err = fmt.Errorf("%w\nand the cleanup failed: %v", err, stopErr)
			}
		}
	}()
	if err := checkNoDetachedNode(); err != nil {
		return nil, err
	}
	// A crashed run's record holds the true originals: restore them first.
	if err := restoreHost(); err != nil {
		return nil, fmt.Errorf("restore the host after an earlier run: %w", err)
	}
	if n.record, err = recordHost(procSys); err != nil {
		return nil, err
	}
	if opts.Detached {
		if n.record.Owner, err = filepath.Abs(opts.Dir); err != nil {
			return nil, err
		}
	}
	if err := n.record.save(StateDir); err != nil {
		return nil, err
	}
	for name, value := range map[string]string{"net.ipv4.ip_forward": "1", "net.bridge.bridge-nf-call-iptables": "1"} {
		if _, ok := n.record.Sysctls[name]; !ok {
			return nil, fmt.Errorf("sysctl %s is missing: load the br_netfilter module (modprobe br_netfilter)", name)
		}
		if err := setSysctl(procSys, name, value); err != nil {
			return nil, err
		}
	}

	c, err := cluster.Start(ctx, cluster.Options{Dir: opts.Dir, BinDir: opts.BinDir, Detached: opts.Detached, RealNode: NodeName, Progress: opts.Progress})
	if err != nil {
		return nil, err
	}
	n.Cluster = c
	if err := n.startContainerd(ctx); err != nil {
		return nil, err
	}
	pause := filepath.Join(StateDir, "pause.tar")
	if err := (Image{Refs: []string{PauseImage}, Spec: ociimage.Spec{Package: modulePath + "/e2e/realnode/pause", Entrypoint: "/pause"}}).Build(ctx, pause); err != nil {
		return nil, err
	}
	for _, img := range append([]string{pause}, opts.Images...) {
		if err := n.ImportImage(ctx, img); err != nil {
			return nil, err
		}
	}
	if err := n.startKubelet(); err != nil {
		return nil, err
	}
	if err := n.startKubeProxy(); err != nil {
		return nil, err
	}
	if err := n.WaitFor(ctx, "node "+NodeName+" Ready", func(ctx context.Context) (bool, error) {
		return n.NodeReady(ctx, NodeName)
	}); err != nil {
		return nil, err
	}
	if err := n.forwardAPIServer(); err != nil {
		return nil, err
	}
	opts.Progress("node %s Ready at %s (%s)", NodeName, n.IP, time.Since(n.started).Round(100*time.Millisecond))
	return n, nil
}

const modulePath = "github.com/gracekeeper/gracekeeper"

// Attach returns the detached node that Start ran with Options.Dir dir, for
// make down to Stop it. It returns an error wrapping cluster.ErrNotRunning
// if dir holds no cluster, and ErrNoNode if its cluster has no real node.
func Attach(dir string) (*Node, error) {
	record, err := loadRecord(StateDir)
	if errors.Is(err, os.ErrPermission) {
		return nil, ErrNoNode // only root runs a real node
	}
	if err != nil {
		return nil, err
	}
	if abs, _ := filepath.Abs(dir); record == nil || record.Owner != abs {
		return nil, ErrNoNode
	}
	c, err := cluster.Attach(dir)
	if err != nil {
		return nil, err
	}
	return &Node{Cluster: c}, nil
}

// ErrNoNode is returned by Attach for a cluster without a real node.
var ErrNoNode = errors.New("no real node")

// checkNoDetachedNode refuses to start while a detached node (make up) runs.
func checkNoDetachedNode() error {
	record, err := loadRecord(StateDir)
	if err != nil || record == nil || record.Owner == "" {
		return err
	}
	if c, err := cluster.Attach(record.Owner); err == nil && c.Running() > 0 {
		return fmt.Errorf("the real node of make up runs (%s): stop it with make down first", record.Owner)
	}
	return nil
}

// nodeIP is the IPv4 address of the default route's interface. The kubelet
// refuses loopback, and this machine has no dummy interfaces.
func nodeIP() (string, error) {
	data, err := os.ReadFile("/proc/net/route")
	if err != nil {
		return "", fmt.Errorf("read routes: %w", err)
	}
	for _, line := range strings.Split(string(data), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 8 || f[1] != "00000000" || f[7] != "00000000" {
			continue
		}
		iface, err := net.InterfaceByName(f[0])
		if err != nil {
			return "", fmt.Errorf("default route interface %s: %w", f[0], err)
		}
		addrs, err := iface.Addrs()
		if err != nil {
			return "", fmt.Errorf("addresses of %s: %w", f[0], err)
		}
		for _, a := range addrs {
			if ipNet, ok := a.(*net.IPNet); ok && ipNet.IP.To4() != nil {
				return ipNet.IP.String(), nil
			}
		}
		return "", fmt.Errorf("default route interface %s has no IPv4 address", f[0])
	}
	return "", errors.New("no IPv4 default route: the kubelet needs the address of a real interface as node IP")
}

// checkRangesFree refuses to start when an interface of this machine is in
// the pod or Service range: kube-proxy and the bridge would hijack it. Our
// own bridge, left by a crash, is removed by the restore.
func checkRangesFree() error {
	ifaces, err := net.Interfaces()
	if err != nil {
		return fmt.Errorf("list interfaces: %w", err)
	}
	for _, cidr := range []string{PodCIDR, cluster.RealNodeServiceCIDR} {
		_, rng, _ := net.ParseCIDR(cidr)
		for _, iface := range ifaces {
			if iface.Name == Bridge {
				continue
			}
			addrs, _ := iface.Addrs()
			for _, a := range addrs {
				if ipNet, ok := a.(*net.IPNet); ok && (rng.Contains(ipNet.IP) || ipNet.Contains(rng.IP)) {
					return fmt.Errorf("interface %s has %s, in the range %s a real node uses", iface.Name, a, cidr)
				}
			}
		}
	}
	return nil
}

// lockHost makes sure one real node runs at a time on this machine.
func lockHost() (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(RunDir), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(RunDir+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("another real node runs on this machine (%s is locked): %w", RunDir+".lock", err)
	}
	return f, nil
}

func (n *Node) containerdSocket() string { return filepath.Join(RunDir, "containerd.sock") }

func (n *Node) startContainerd(ctx context.Context) error {
	cniConf := filepath.Join(StateDir, "cni", "net.d")
	if err := os.MkdirAll(cniConf, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(cniConf, "10-gracekeeper.conflist"), []byte(cniConfig()), 0o644); err != nil {
		return err
	}
	config := filepath.Join(StateDir, "containerd.toml")
	if err := os.WriteFile(config, []byte(containerdConfig(cniConf)), 0o644); err != nil {
		return err
	}
	bin, _ := exec.LookPath("containerd")
	if err := n.StartProcess("containerd", bin, "--config", config); err != nil {
		return err
	}
	return n.WaitFor(ctx, "containerd", func(ctx context.Context) (bool, error) {
		return n.ctr(ctx, "version") == nil, nil
	})
}

// ctr runs containerd's client against the node's containerd, in the
// namespace the kubelet's CRI uses.
func (n *Node) ctr(ctx context.Context, args ...string) error {
	cmd := exec.CommandContext(ctx, "ctr", append([]string{"--address", n.containerdSocket(), "--namespace", "k8s.io"}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("ctr %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// ImportImage loads an image archive (see Image.Build) into the node's
// containerd, where pods with imagePullPolicy Never find it.
func (n *Node) ImportImage(ctx context.Context, archive string) error {
	return n.ctr(ctx, "images", "import", archive)
}

func (n *Node) startKubelet() error {
	dir := filepath.Join(StateDir, "kubelet")
	ports, err := cluster.FreePorts(2)
	if err != nil {
		return err
	}
	config := filepath.Join(StateDir, "kubelet.yaml")
	if err := os.WriteFile(config, []byte(kubeletConfig(n.containerdSocket(), filepath.Join(StateDir, "pods"), ports[0], ports[1])), 0o644); err != nil {
		return err
	}
	return n.StartProcess("kubelet", filepath.Join(n.BinDir, "kubelet"),
		"--config="+config, "--kubeconfig="+n.NodeKubeconfig,
		"--hostname-override="+NodeName, "--node-ip="+n.IP,
		"--root-dir="+dir, "--cert-dir="+filepath.Join(dir, "pki"), "-v=2")
}

func (n *Node) startKubeProxy() error {
	ports, err := cluster.FreePorts(2)
	if err != nil {
		return err
	}
	config := filepath.Join(StateDir, "kube-proxy.yaml")
	if err := os.WriteFile(config, []byte(kubeProxyConfig(n.ProxyKubeconfig, ports[0], ports[1])), 0o644); err != nil {
		return err
	}
	return n.StartProcess("kube-proxy", filepath.Join(n.BinDir, "kube-proxy"), "--config="+config, "-v=2")
}

// Stop deletes every pod (the kubelet tears each down: CNI DEL, unmounts),
// stops the node's daemons and the control plane, and restores the host.
// It goes on after a failed step and returns every error.
func (n *Node) Stop() error {
	var errs []error
	if n.Cluster != nil {
		errs = append(errs, n.deleteAllPods())
		for _, name := range []string{"kube-proxy", "kubelet"} {
			errs = append(errs, n.StopProcess(name, 5*time.Second))
		}
		errs = append(errs, killPodProcesses(10*time.Second))
		errs = append(errs, n.StopProcess("containerd", 5*time.Second))
		killByArgument(n.containerdSocket())
		errs = append(errs, n.Cluster.Stop())
	}
	errs = append(errs, restoreHost())
	_ = os.Remove(RunDir + ".lock")
	if n.lock != nil {
		n.lock.Close()
	}
	return errors.Join(errs...)
}

// deleteAllPods deletes the webhook configurations (an enforcing
// gracekeeper would deny deleting the workloads), then the workloads and
// pods of every namespace, and waits, up to a minute, for the kubelet to
// remove the pods.
func (n *Node) deleteAllPods() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if !n.Healthy(ctx) {
		return nil // nothing to ask; the cgroup sweep and restore clean up
	}
	client := n.Client()
	namespaces, err := client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list namespaces: %w", err)
	}
	all := metav1.ListOptions{}
	_ = client.AdmissionregistrationV1().ValidatingWebhookConfigurations().DeleteCollection(ctx, metav1.DeleteOptions{}, all)
	_ = client.AdmissionregistrationV1().MutatingWebhookConfigurations().DeleteCollection(ctx, metav1.DeleteOptions{}, all)
	grace := int64(1)
	background := metav1.DeletePropagationBackground
	for _, ns := range namespaces.Items {
		// The controllers would replace deleted pods.
		apps := client.AppsV1()
		_ = apps.Deployments(ns.Name).DeleteCollection(ctx, metav1.DeleteOptions{PropagationPolicy: &background}, all)
		_ = apps.StatefulSets(ns.Name).DeleteCollection(ctx, metav1.DeleteOptions{PropagationPolicy: &background}, all)
		_ = apps.DaemonSets(ns.Name).DeleteCollection(ctx, metav1.DeleteOptions{PropagationPolicy: &background}, all)
		_ = apps.ReplicaSets(ns.Name).DeleteCollection(ctx, metav1.DeleteOptions{PropagationPolicy: &background}, all)
		_ = client.BatchV1().Jobs(ns.Name).DeleteCollection(ctx, metav1.DeleteOptions{PropagationPolicy: &background}, all)
		_ = client.CoreV1().Pods(ns.Name).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: &grace}, all)
	}
	for ctx.Err() == nil {
		pods, err := client.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + NodeName})
		if err == nil && len(pods.Items) == 0 {
			return nil
		}
		time.Sleep(250 * time.Millisecond)
	}
	return errors.New("pods were still on the node a minute after their deletion")
}

// restoreHost undoes what the record in StateDir says a node changed, and
// removes the owned iptables chains, mounts, network namespaces, bridge,
// cgroups and directories. Without a record there is nothing to restore.
func restoreHost() error {
	record, err := loadRecord(StateDir)
	if err != nil || record == nil {
		return err
	}
	var errs []error
	errs = append(errs, killPodProcesses(10*time.Second))
	killByArgument(filepath.Join(RunDir, "containerd.sock"))
	if _, err := exec.LookPath("conntrack"); err == nil {
		// Entries for the pods' and Services' addresses, which a later run
		// reuses: one of a connection to a pod that is gone would capture a
		// new connection from the same port. (Exit 1 means none matched.)
		for _, filter := range [][]string{{"-d", cluster.RealNodeServiceCIDR}, {"-d", PodCIDR}, {"-s", PodCIDR}} {
			_ = exec.Command("conntrack", append([]string{"-D"}, filter...)...).Run()
		}
	}
	// Mounts: containers' root file systems and volumes, the sandboxes' shm,
	// and the pods' network namespaces created during the run.
	prefixes := []string{StateDir, RunDir}
	var newNetns []string
	for _, ns := range netnsNames() {
		if !slices.Contains(record.Netns, ns) {
			newNetns = append(newNetns, filepath.Join("/run/netns", ns))
		}
	}
	errs = append(errs, unmountUnder(append(prefixes, newNetns...)))
	for _, ns := range newNetns {
		if err := os.Remove(ns); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if slices.Contains(record.Absent, "/run/netns") {
		// The first network namespace bind-mounts /run/netns onto itself.
		errs = append(errs, unmountUnder([]string{"/run/netns"}))
	}
	if _, err := net.InterfaceByName(Bridge); err == nil {
		if out, err := exec.Command("ip", "link", "delete", Bridge).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("delete bridge %s: %w: %s", Bridge, err, out))
		}
	}
	errs = append(errs, cleanIptables())
	errs = append(errs, removePodCgroups())
	errs = append(errs, restoreSysctls(procSys, record.Sysctls))
	for _, p := range record.Absent {
		if err := os.RemoveAll(p); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err // keep the record for the next attempt
	}
	for _, dir := range []string{RunDir, StateDir} {
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("remove %s: %w", dir, err)
		}
	}
	return nil
}

// apiServerChain is the nat chain forwarding the kubernetes Service to the
// API server; its KUBE- prefix makes cleanIptables remove it with the rest.
const apiServerChain = "KUBE-RN-APISERVER"

// forwardAPIServer lets pods reach the API server, which listens on loopback
// only, at the kubernetes Service (cluster.RealNodeAPIServerIP:443), as
// in-cluster clients expect: the pod range's packets to it are DNATed to the
// API server's loopback port, which route_localnet allows (kube-proxy sets
// it too; it is restored with the other sysctls). Nothing new listens.
func (n *Node) forwardAPIServer() error {
	_, port, err := net.SplitHostPort(strings.TrimPrefix(n.Server, "https://"))
	if err != nil {
		return fmt.Errorf("API server address %s: %w", n.Server, err)
	}
	if err := setSysctl(procSys, "net.ipv4.conf.all.route_localnet", "1"); err != nil {
		return err
	}
	for _, args := range [][]string{
		{"-t", "nat", "-N", apiServerChain},
		{"-t", "nat", "-A", apiServerChain, "-s", PodCIDR, "-d", cluster.RealNodeAPIServerIP + "/32", "-p", "tcp", "--dport", "443",
			"-j", "DNAT", "--to-destination", "127.0.0.1:" + port},
		{"-t", "nat", "-I", "PREROUTING", "1", "-j", apiServerChain},
	} {
		if out, err := exec.Command("iptables", append([]string{"-w"}, args...)...).CombinedOutput(); err != nil {
			return fmt.Errorf("iptables %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
		}
	}
	return nil
}
