package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/gracekeeper/gracekeeper/e2e/cluster"
)

// Kyverno, the policy engine most users would pick instead, is compared with
// when -kyverno is given: built from the module proxy in a module of its own
// (e2e/tools/kyverno, never a dependency of gracekeeper's), its API objects
// installed, and its admission controller run out of cluster on loopback,
// as /work/shared/docs/kyverno-bench.md describes.

const (
	kyvernoModuleDir = "e2e/tools/kyverno"
	kyvernoModule    = "github.com/kyverno/kyverno"
	kyvernoVersion   = "v1.19.1"
	kyvernoLabel     = "bench.gracekeeper.io/kyverno"
)

// kyvernoSetup is the namespace of Kyverno's policy, added to setups by -kyverno.
var kyvernoSetup = setup{"Kyverno " + kyvernoVersion + ", equivalent ClusterPolicy", "bench-kyverno",
	map[string]string{kyvernoLabel: "enforce"}, true, `admission webhook "validate.kyverno.svc-fail" denied the request`}

// kyvernoPolicy does what gracekeeper does to the benchmark's requests: a
// preStop sleep of 5 s for every container without a hook, a grace period
// of at least 30 s, and denials of Recreate and OnDelete.
const kyvernoPolicy = `apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata:
  name: bench-graceful
spec:
  background: false
  rules:
  - name: prestop-hook
    match:
      any:
      - resources:
          kinds: [Pod]
          operations: [CREATE]
    mutate:
      foreach:
      - list: request.object.spec.containers
        patchStrategicMerge:
          spec:
            containers:
            - name: "{{ element.name }}"
              lifecycle:
                +(preStop):
                  sleep:
                    seconds: 5
  - name: termination-grace-period
    match:
      any:
      - resources:
          kinds: [Pod]
          operations: [CREATE]
    preconditions:
      all:
      - key: "{{ request.object.spec.terminationGracePeriodSeconds || ` + "`30`" + ` }}"
        operator: LessThan
        value: 30
    mutate:
      patchStrategicMerge:
        spec:
          terminationGracePeriodSeconds: 30
  - name: recreate-strategy
    match:
      any:
      - resources:
          kinds: [Deployment]
          operations: [CREATE, UPDATE]
    validate:
      failureAction: Enforce
      message: "recreate-strategy: strategy Recreate stops every pod before the new ones start; use RollingUpdate"
      deny:
        conditions:
          any:
          - key: "{{ request.object.spec.strategy.type || '' }}"
            operator: Equals
            value: Recreate
  - name: update-strategy
    match:
      any:
      - resources:
          kinds: [StatefulSet, DaemonSet]
          operations: [CREATE, UPDATE]
    validate:
      failureAction: Enforce
      message: "update-strategy: updateStrategy OnDelete never replaces a pod until someone deletes it; use RollingUpdate"
      deny:
        conditions:
          any:
          - key: "{{ request.object.spec.updateStrategy.type || '' }}"
            operator: Equals
            value: OnDelete
`

// startKyverno builds Kyverno, installs its API objects, runs its admission
// controller on loopback and creates the policy. Its webhooks are limited
// (the kyverno ConfigMap's webhooks setting) to the namespaces labelled
// kyvernoLabel, so that it costs the other setups nothing.
func startKyverno(ctx context.Context, c *cluster.Cluster, opts *options, logf func(string, ...any)) (*serverProcess, error) {
	dir, err := os.MkdirTemp(opts.tmp, "kyverno-")
	if err != nil {
		return nil, err
	}
	binary := filepath.Join(dir, "kyverno")
	logf("building Kyverno %s in its own module (%s); this takes minutes", kyvernoVersion, kyvernoModuleDir)
	build := exec.CommandContext(ctx, "go", "build", "-o", binary, kyvernoModule+"/cmd/kyverno")
	build.Dir = kyvernoModuleDir
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build Kyverno: %w\n%s", err, out)
	}
	list := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}", kyvernoModule)
	list.Dir = kyvernoModuleDir
	moduleDir, err := list.Output()
	if err != nil {
		return nil, fmt.Errorf("find Kyverno's module: %w", err)
	}
	install := filepath.Join(strings.TrimSpace(string(moduleDir)), "config", "install-latest-testing.yaml")
	logf("installing Kyverno's API objects (%s)", install)
	if _, stderr, err := c.Kubectl(ctx, "apply", "--server-side", "--force-conflicts", "-f", install); err != nil {
		return nil, fmt.Errorf("kubectl apply %s: %w\n%s", install, err, stderr)
	}
	// The controllers run as local processes instead.
	if _, stderr, err := c.Kubectl(ctx, "-n", "kyverno", "scale", "deployment", "--all", "--replicas=0"); err != nil {
		return nil, fmt.Errorf("scale Kyverno's Deployments to 0: %w\n%s", err, stderr)
	}
	webhooks := fmt.Sprintf(`{"namespaceSelector":{"matchLabels":{%q:"enforce"}}}`, kyvernoLabel)
	if _, stderr, err := c.Kubectl(ctx, "-n", "kyverno", "patch", "configmap", "kyverno", "--type=merge",
		"-p", fmt.Sprintf(`{"data":{"webhooks":%q}}`, webhooks)); err != nil {
		return nil, fmt.Errorf("limit Kyverno's webhooks to its namespace: %w\n%s", err, stderr)
	}
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	args := []string{
		"--kubeconfig=" + c.Kubeconfig,
		fmt.Sprintf("--serverIP=127.0.0.1:%d", ports[0]),
		fmt.Sprintf("--webhookServerPort=%d", ports[0]),
		"--caSecretName=kyverno-svc.kyverno.svc.kyverno-tls-ca",
		"--tlsSecretName=kyverno-svc.kyverno.svc.kyverno-tls-pair",
		"--admissionReports=false", "--enableReporting=",
		fmt.Sprintf("--metricsPort=%d", ports[1]),
		fmt.Sprintf("--controllerRuntimeMetricsAddress=127.0.0.1:%d", ports[2]),
		"--generateValidatingAdmissionPolicy=false",
	}
	p, err := startServerEnv(binary, args, []string{
		"INIT_CONFIG=kyverno", "METRICS_CONFIG=kyverno-metrics", "KYVERNO_NAMESPACE=kyverno", "KYVERNO_POD_NAME=x",
		"KYVERNO_SERVICEACCOUNT_NAME=kyverno-admission-controller", "KYVERNO_ROLE_NAME=kyverno:admission-controller",
		"KYVERNO_SVC=kyverno-svc", "KYVERNO_DEPLOYMENT=kyverno-admission-controller",
	}, filepath.Join(dir, "kyverno.log"))
	if err != nil {
		return nil, err
	}
	if err := waitKyverno(ctx, p, ports[0]); err != nil {
		return nil, errors.Join(err, p.stop())
	}
	if _, stderr, err := c.KubectlInput(ctx, kyvernoPolicy, "apply", "-f", "-"); err != nil {
		return nil, errors.Join(fmt.Errorf("create Kyverno's policy: %w\n%s", err, stderr), p.stop())
	}
	// Kyverno writes its webhook configurations once a policy exists;
	// verifySetup waits until they act.
	return p, nil
}

// waitKyverno waits, up to two minutes, for Kyverno's webhook server to
// answer its liveness path.
func waitKyverno(ctx context.Context, p *serverProcess, port int) error {
	url := fmt.Sprintf("https://127.0.0.1:%d/health/liveness", port)
	if err := p.waitOK(ctx, url, &tls.Config{InsecureSkipVerify: true}, 2*time.Minute, 500*time.Millisecond); err != nil {
		return fmt.Errorf("the Kyverno webhook server: %w", err)
	}
	return nil
}
