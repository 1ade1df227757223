package cluster

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// RealNodeServiceCIDR is the Service range of a cluster with a real node
// (Options.RealNode). kube-proxy routes it on the host, so nothing else there
// may use it.
const RealNodeServiceCIDR = "10.96.0.0/24"

// RealNodeAPIServerIP is the ClusterIP of the kubernetes Service, the first
// of RealNodeServiceCIDR: pods call the API server there (in-cluster
// configuration), and the real node forwards it to the API server on
// loopback.
const RealNodeAPIServerIP = "10.96.0.1"

// realNodeAPIServerArgs are the API server flags a real node needs, in place
// of the kwok cluster's (see withFlags): the Node authorizer for the
// kubelet, privileged containers allowed as on any cluster, and a Service
// range of its own. None for a kwok cluster.
func realNodeAPIServerArgs(realNode string, files *secrets) []string {
	if realNode == "" {
		return nil
	}
	return []string{
		"--authorization-mode=Node,RBAC",
		"--client-ca-file=" + files.caCert,
		"--allow-privileged=true",
		"--service-cluster-ip-range=" + RealNodeServiceCIDR,
	}
}

// withFlags returns args with each --name=value of overrides in place of the
// argument of the same flag, or appended if args has none. (Some flags, such
// as --authorization-mode, add up when repeated instead of overriding.)
func withFlags(args, overrides []string) []string {
	out := slices.Clone(args)
	for _, o := range overrides {
		name, _, _ := strings.Cut(o, "=")
		if i := slices.IndexFunc(out, func(a string) bool { return strings.HasPrefix(a, name+"=") }); i >= 0 {
			out[i] = o
		} else {
			out = append(out, o)
		}
	}
	return out
}

// writeRealNodeKubeconfigs writes NodeKubeconfig and ProxyKubeconfig when the
// cluster has a real node.
func (c *Cluster) writeRealNodeKubeconfigs(files *secrets) error {
	if c.opts.RealNode == "" {
		return nil
	}
	c.NodeKubeconfig = filepath.Join(c.Dir, "node.kubeconfig")
	c.ProxyKubeconfig = filepath.Join(c.Dir, "kube-proxy.kubeconfig")
	if err := writeKubeconfig(c.NodeKubeconfig, c.Server, files.caPEM, "system:node:"+c.opts.RealNode, files.nodeToken); err != nil {
		return err
	}
	return writeKubeconfig(c.ProxyKubeconfig, c.Server, files.caPEM, "system:kube-proxy", files.proxyToken)
}

// StartProcess runs binary as one of the cluster's processes, for a real
// node's daemons: it is recorded in the state file, its log is
// Dir/logs/<name>.log (see Tail), it dies with this program unless the
// cluster is detached, Stop kills it, and WaitFor fails as soon as it exits.
func (c *Cluster) StartProcess(name, binary string, args ...string) error {
	_, err := c.startRecorded(name, binary, nil, args)
	return err
}

// StopProcess stops the named process started by StartProcess: SIGTERM to
// its process group, SIGKILL after grace (at once if grace is 0). It does
// nothing if no such process runs.
func (c *Cluster) StopProcess(name string, grace time.Duration) error {
	c.mu.Lock()
	var p *process
	for _, q := range c.procs {
		if q.Name == name {
			p = q
		}
	}
	if p == nil {
		c.mu.Unlock()
		return nil
	}
	p.stopped = true
	c.mu.Unlock()
	return p.stop(grace)
}

// WaitFor polls ready every 100 ms until it returns true or an error, one of
// the cluster's processes exits, or Options.Timeout passes; each poll gets
// 5 s. The error names what was awaited.
func (c *Cluster) WaitFor(ctx context.Context, what string, ready func(context.Context) (bool, error)) error {
	if err := c.waitFor(ctx, what, ready); err != nil {
		return fmt.Errorf("%w\n%s", err, c.Tails(20))
	}
	return nil
}

// FreePorts returns n distinct free loopback ports, for a real node's
// daemons to bind.
func FreePorts(n int) ([]int, error) { return freePorts(n) }
