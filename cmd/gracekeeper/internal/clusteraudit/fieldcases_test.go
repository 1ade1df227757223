package clusteraudit

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/gracekeeper/gracekeeper/cmd/gracekeeper/internal/cli"
	"github.com/gracekeeper/gracekeeper/policies"
	"github.com/gracekeeper/gracekeeper/policies/policytest"
)

// TestFieldCasesAgreeWithAudit scans a cluster holding each field case and
// wants the findings the fixture's golden pins, which `check` and the webhook
// are held to as well (cmd/gracekeeper's TestFieldCasesAgreeAcrossCheckAndTheWebhook).
// Running pods are scanned for prestop-hook only: enforce mode patches a pod
// only when it is created.
func TestFieldCasesAgreeWithAudit(t *testing.T) {
	cases, err := policytest.FieldCases(filepath.Join("..", "..", "..", "..", "policies", "testdata", "rules"))
	if err != nil {
		t.Fatal(err)
	}
	for _, fc := range cases {
		t.Run(fc.Name, func(t *testing.T) {
			configPath := filepath.Join(t.TempDir(), "config.yaml")
			if err := os.WriteFile(configPath, []byte(fc.Config), 0o600); err != nil {
				t.Fatal(err)
			}
			obj, err := policies.Decode(fc.GVK, fc.Object)
			if err != nil {
				t.Fatal(err)
			}
			if p, ok := obj.(*corev1.Pod); ok && p.Spec.NodeName == "" {
				// A pod in a cluster runs on a node: audit lists only pods
				// whose shutdown is protected (scheduled, running).
				p.Spec.NodeName, p.Status.Phase = "node-1", corev1.PodRunning
			}
			stdout, stderr, err := newTestCluster(namespaceObj(policytest.FieldCaseNamespace, "audit"), obj).
				audit(t, "-A", "-o", "json", "--config", configPath)
			if err != nil && !errors.Is(err, cli.ErrFindings) {
				t.Fatalf("audit: %v\n%s", err, stderr)
			}
			var report auditReport
			if err := json.Unmarshal([]byte(stdout), &report); err != nil {
				t.Fatalf("audit -o json: %v\n%s", err, stdout)
			}
			var found []policies.Finding
			for _, ns := range report.Namespaces {
				for _, w := range ns.Workloads {
					found = append(found, w.Findings...)
				}
				for _, p := range ns.Pods {
					found = append(found, p.Findings...)
				}
			}
			want := policytest.FindingKeys(fc.Findings)
			if fc.GVK.Kind == "Pod" {
				want = slices.DeleteFunc(want, func(k string) bool { return !strings.HasPrefix(k, string(policies.RulePreStopHook)+" ") })
			}
			if got := policytest.FindingKeys(found); !slices.Equal(got, want) {
				t.Errorf("audit and the golden disagree\naudit:  %q\ngolden: %q", got, want)
			}
		})
	}
}
