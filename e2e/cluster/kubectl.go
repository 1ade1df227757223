package cluster

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Kubectl runs the cluster's kubectl as the admin, exactly as a user would
// type it, and returns what it printed. A non-zero exit is an error that
// wraps *exec.ExitError and quotes stderr.
func (c *Cluster) Kubectl(ctx context.Context, args ...string) (stdout, stderr string, err error) {
	return c.KubectlInput(ctx, "", args...)
}

// KubectlInput is Kubectl with input on stdin, for `kubectl apply -f -`.
func (c *Cluster) KubectlInput(ctx context.Context, input string, args ...string) (stdout, stderr string, err error) {
	var out, errOut bytes.Buffer
	cmd := exec.CommandContext(ctx, filepath.Join(c.BinDir, "kubectl"), args...)
	cmd.Env = append(os.Environ(),
		"KUBECONFIG="+c.Kubeconfig,
		// Keep discovery caches with the cluster, not in the user's home.
		"KUBECACHEDIR="+filepath.Join(c.Dir, "kubectl-cache"),
	)
	cmd.Stdin = strings.NewReader(input)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	cmd.SysProcAttr = sysProcAttr(false)
	if err := cmd.Run(); err != nil {
		return out.String(), errOut.String(), fmt.Errorf("kubectl %s: %w: %s",
			strings.Join(args, " "), err, strings.TrimSpace(errOut.String()))
	}
	return out.String(), errOut.String(), nil
}
