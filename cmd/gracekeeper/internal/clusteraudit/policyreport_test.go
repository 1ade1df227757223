package clusteraudit

import (
	"context"
	"errors"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"
	"sigs.k8s.io/yaml"

	"github.com/gracekeeper/gracekeeper/cmd/gracekeeper/internal/cli"
	"github.com/gracekeeper/gracekeeper/e2e/golden"
)

func (c *testCluster) policyReport(t *testing.T, ns string) *unstructured.Unstructured {
	t.Helper()
	obj, err := c.dynamic.Resource(policyReportsResource).Namespace(ns).Get(context.Background(), policyReportName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return obj
}

// writes lists the write requests a client made, as "verb resource".
func writes(actions []k8stesting.Action) []string {
	var out []string
	for _, a := range actions {
		switch a.GetVerb() {
		case "get", "list", "watch":
		default:
			out = append(out, a.GetVerb()+" "+a.GetResource().Resource+" "+a.GetNamespace())
		}
	}
	return out
}

func TestWriteReportsWithoutTheCRDWritesNothingAndSaysWhy(t *testing.T) {
	c := mixedCluster(t)
	out, _, err := c.audit(t, "-A", "--write-reports")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "PolicyReports not written: the PolicyReport CRD (policyreports.wgpolicyk8s.io, v1alpha2) is not installed.") {
		t.Errorf("the missing CRD must be named:\n%s", out)
	}
	if w := writes(append(c.kube.Actions(), c.dynamic.Actions()...)); len(w) > 0 {
		t.Errorf("nothing may be written, got %v", w)
	}
}

func TestWriteReportsCreatesOneReportPerNamespaceAndWritesNothingElse(t *testing.T) {
	c := mixedCluster(t)
	c.installPolicyReportCRD()
	out, _, err := c.audit(t, "-A", "--write-reports")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "PolicyReport gracekeeper written in sandbox, shop, staging, typo.") {
		t.Errorf("the text report must say where reports were written:\n%s", out)
	}
	want := []string{"create policyreports sandbox", "create policyreports shop", "create policyreports staging", "create policyreports typo"}
	if got := writes(append(c.kube.Actions(), c.dynamic.Actions()...)); strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Errorf("writes:\n got %v\nwant %v", got, want)
	}
	report, err := yaml.Marshal(c.policyReport(t, "shop").Object)
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "testdata/audit/policyreport-shop.yaml", report)
}

func TestWriteReportsUpdatesItsOwnReport(t *testing.T) {
	c := mixedCluster(t)
	c.installPolicyReportCRD()
	if _, _, err := c.audit(t, "-n", "shop", "--write-reports"); err != nil {
		t.Fatal(err)
	}
	// The Recreate Deployment is fixed between runs: its failure must go.
	if err := c.kube.AppsV1().Deployments("shop").Delete(context.Background(), "legacy", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	c.dynamic.ClearActions()
	if _, _, err := c.audit(t, "-n", "shop", "--write-reports"); err != nil {
		t.Fatal(err)
	}
	if got := writes(c.dynamic.Actions()); strings.Join(got, "; ") != "update policyreports shop" {
		t.Errorf("the second run must update the report, got %v", got)
	}
	fail, _, _ := unstructured.NestedInt64(c.policyReport(t, "shop").Object, "summary", "fail")
	if fail != 0 {
		t.Errorf("summary.fail = %d after the denied Deployment is gone, want 0", fail)
	}
}

func TestWriteReportsLeavesOtherReportsAlone(t *testing.T) {
	c := mixedCluster(t)
	c.installPolicyReportCRD()
	foreign := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "wgpolicyk8s.io/v1alpha2", "kind": "PolicyReport",
		"metadata": map[string]any{"name": "gracekeeper", "namespace": "shop"},
		"results":  []any{},
	}}
	if _, err := c.dynamic.Resource(policyReportsResource).Namespace("shop").Create(context.Background(), foreign, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	out, _, err := c.audit(t, "-n", "shop", "--write-reports")
	if err == nil || errors.Is(err, cli.ErrFindings) {
		t.Fatalf("a report that could not be written makes the run incomplete, got %v", err)
	}
	if !strings.Contains(out, `PolicyReport gracekeeper in namespace "shop" exists without the label app.kubernetes.io/managed-by=gracekeeper, so gracekeeper leaves it alone`) {
		t.Errorf("the conflict must be explained:\n%s", out)
	}
	if _, found, _ := unstructured.NestedMap(c.policyReport(t, "shop").Object, "summary"); found {
		t.Error("the foreign report was overwritten")
	}
}

func TestWriteReportsSkipsIncompleteNamespacesAndNamesFailedWrites(t *testing.T) {
	c := mixedCluster(t)
	c.installPolicyReportCRD()
	c.kube.PrependReactor("list", "pods", func(action k8stesting.Action) (bool, runtime.Object, error) {
		if action.GetNamespace() == "shop" {
			return true, nil, apierrors.NewForbidden(podsResource, "", errors.New("no"))
		}
		return false, nil, nil
	})
	c.dynamic.PrependReactor("create", "policyreports", func(action k8stesting.Action) (bool, runtime.Object, error) {
		if action.GetNamespace() == "staging" {
			return true, nil, apierrors.NewForbidden(policyReportsResource.GroupResource(), "gracekeeper", errors.New("no"))
		}
		return false, nil, nil
	})
	out, _, _ := c.audit(t, "--selector", "gracekeeper.io/mode in (enforce,audit)", "--write-reports")
	for _, want := range []string{
		"PolicyReport not written in namespace shop: its scan is incomplete",
		`cannot create policyreports.wgpolicyk8s.io in namespace "staging": forbidden (needs "create" on policyreports.wgpolicyk8s.io)`,
		"No PolicyReport written.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("want %q in:\n%s", want, out)
		}
	}
}
