package clusteraudit

import (
	"context"
	"errors"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8stesting "k8s.io/client-go/testing"
	"sigs.k8s.io/yaml"

	"github.com/gracekeeper/gracekeeper/cmd/gracekeeper/internal/cli"
	"github.com/gracekeeper/gracekeeper/policies"
	"github.com/gracekeeper/gracekeeper/policies/policytest"
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
	if !strings.Contains(out, "PolicyReports not written: neither report CRD is installed: reports.openreports.io (v1alpha1), policyreports.wgpolicyk8s.io (v1alpha2).") {
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
	policytest.Golden(t, "testdata/audit/policyreport-shop.yaml", report)
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

// Where the OpenReports API is served, reports go there, with the same
// results, even when wgpolicyk8s.io is served too.
func TestWriteReportsPrefersOpenReports(t *testing.T) {
	c := mixedCluster(t)
	c.installPolicyReportCRD()
	c.installOpenReportsCRD()
	out, _, err := c.audit(t, "-A", "--write-reports", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, `"apiVersion": "openreports.io/v1alpha1"`) {
		t.Errorf("the JSON report must name the API written:\n%s", out)
	}
	want := []string{"create reports sandbox", "create reports shop", "create reports staging", "create reports typo"}
	if got := writes(c.dynamic.Actions()); strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Errorf("writes:\n got %v\nwant %v", got, want)
	}
	report, err := c.dynamic.Resource(openReportsResource).Namespace("shop").Get(context.Background(), policyReportName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wg := c.policyReportObject(t, "shop", policyReportsResource)
	if wg != nil {
		t.Error("a wgpolicyk8s.io report was written too")
	}
	if report.GetKind() != "Report" || report.Object["source"] != "gracekeeper" {
		t.Errorf("want an OpenReports Report with source gracekeeper, got %v %v", report.GetKind(), report.Object["source"])
	}
	results, _, _ := unstructured.NestedSlice(report.Object, "results")
	if len(results) == 0 {
		t.Error("the report has no results")
	}
}

func (c *testCluster) policyReportObject(t *testing.T, ns string, resource schema.GroupVersionResource) *unstructured.Unstructured {
	t.Helper()
	obj, err := c.dynamic.Resource(resource).Namespace(ns).Get(context.Background(), policyReportName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return obj
}

// A finding an exemption annotation takes away is reported as skip, with
// the annotation's reason; the others are reported as before.
func TestWriteReportsListsExemptedFindingsAsSkip(t *testing.T) {
	web := deploymentObj("shop", "web", podSpec("web"))
	web.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	web.Annotations = map[string]string{policies.ExemptAnnotation: "recreate-strategy",
		policies.ExemptReasonAnnotation: "the app holds a lock only one pod may have"}
	web.Spec.Template.Annotations = map[string]string{policies.ExemptAnnotation: "readiness-probe",
		policies.ExemptReasonAnnotation: "probed by the mesh"}
	c := newTestCluster(append(chartWebhooks(t, nil), namespaceObj("shop", "enforce"), web)...)
	c.installPolicyReportCRD()
	out, _, err := c.audit(t, "-n", "shop", "--write-reports", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, `"exempted": [`) {
		t.Errorf("the JSON report must list the exempted findings:\n%s", out)
	}
	report := c.policyReport(t, "shop")
	results, _, _ := unstructured.NestedSlice(report.Object, "results")
	skipped := map[string]string{}
	for _, r := range results {
		r := r.(map[string]any)
		if r["result"] == "skip" {
			skipped[r["rule"].(string)] = r["message"].(string)
		}
		if r["result"] != "skip" && (r["rule"] == "recreate-strategy" || r["rule"] == "readiness-probe") {
			t.Errorf("exempted rule %s reported as %s", r["rule"], r["result"])
		}
	}
	if !strings.Contains(skipped["recreate-strategy"], "the app holds a lock") || skipped["readiness-probe"] == "" || len(skipped) != 2 {
		t.Errorf("want both exempted rules as skip with the reason, got %v", skipped)
	}
	summary, _, _ := unstructured.NestedMap(report.Object, "summary")
	if summary["skip"] != int64(2) || summary["fail"] != int64(0) {
		t.Errorf("summary %v, want 2 skips and no failure", summary)
	}
}
