package clusteraudit

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/gracekeeper/gracekeeper/cmd/gracekeeper/internal/cli"
	"github.com/gracekeeper/gracekeeper/policies"
)

// Reports are written in the OpenReports API (openreports.io/v1alpha1
// Report, the successor of the policy working group's API, which Kyverno
// 1.15 and Policy Reporter read) where it is served, else in
// wgpolicyk8s.io/v1alpha2 PolicyReport, which Kyverno, Kubewarden and older
// Policy Reporters read. Both have the same results.
var (
	openReportsResource   = schema.GroupVersionResource{Group: "openreports.io", Version: "v1alpha1", Resource: "reports"}
	policyReportsResource = schema.GroupVersionResource{Group: "wgpolicyk8s.io", Version: "v1alpha2", Resource: "policyreports"}
)

// reportAPI is the API reports are written in.
type reportAPI struct {
	resource schema.GroupVersionResource
	kind     string
}

var reportAPIs = []reportAPI{{openReportsResource, "Report"}, {policyReportsResource, "PolicyReport"}}

// servedReportAPI finds the first of reportAPIs the API server serves; with
// none it says why.
func servedReportAPI(clients *clusterClients) (*reportAPI, string) {
	var missing []string
	for i, api := range reportAPIs {
		resources, err := clients.kube.Discovery().ServerResourcesForGroupVersion(api.resource.GroupVersion().String())
		switch {
		case err == nil && slices.ContainsFunc(resources.APIResources, func(r metav1.APIResource) bool { return r.Name == api.resource.Resource }):
			return &reportAPIs[i], ""
		case err == nil || apierrors.IsNotFound(err):
			missing = append(missing, fmt.Sprintf("%s (%s)", api.resource.GroupResource(), api.resource.Version))
		default:
			return nil, fmt.Sprintf("cannot tell whether the %s CRD is installed: %v", api.kind, err)
		}
	}
	return nil, fmt.Sprintf("neither report CRD is installed: %s", strings.Join(missing, ", "))
}

const (
	policyReportName = "gracekeeper"
	// managedByLabel marks the reports audit owns; it never overwrites others.
	managedByLabel = "app.kubernetes.io/managed-by"
	policyName     = "gracekeeper"
)

type policyReport struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   metav1.ObjectMeta `json:"metadata"`
	// Source names the engine, in OpenReports.
	Source  string               `json:"source,omitempty"`
	Summary policyReportSummary  `json:"summary"`
	Results []policyReportResult `json:"results"`
}

type policyReportSummary struct {
	Pass  int64 `json:"pass"`
	Fail  int64 `json:"fail"`
	Warn  int64 `json:"warn"`
	Error int64 `json:"error"`
	Skip  int64 `json:"skip"`
}

type policyReportResult struct {
	Policy     string                   `json:"policy"`
	Rule       string                   `json:"rule,omitempty"`
	Result     string                   `json:"result"`
	Severity   string                   `json:"severity,omitempty"`
	Category   string                   `json:"category"`
	Message    string                   `json:"message"`
	Source     string                   `json:"source"`
	Scored     bool                     `json:"scored"`
	Timestamp  policyReportTimestamp    `json:"timestamp"`
	Resources  []corev1.ObjectReference `json:"resources"`
	Properties map[string]string        `json:"properties,omitempty"`
}

type policyReportTimestamp struct {
	Seconds int64 `json:"seconds"`
	Nanos   int64 `json:"nanos"`
}

// writePolicyReports creates or updates the PolicyReport "gracekeeper" in
// every scanned namespace whose scan is complete; a partial scan would drop
// results that still hold. It writes nothing else.
func writePolicyReports(ctx context.Context, clients *clusterClients, report *auditReport, at time.Time) {
	result := &policyReportsResult{Written: []string{}}
	report.PolicyReports = result
	api, why := servedReportAPI(clients)
	if api == nil {
		result.Skipped = why
		return
	}
	result.APIVersion = api.resource.GroupVersion().String()
	for i := range report.Namespaces {
		ns := &report.Namespaces[i]
		switch {
		case ns.Excluded:
		case !ns.Complete:
			report.Notes = append(report.Notes, fmt.Sprintf("PolicyReport not written in namespace %s: its scan is incomplete", ns.Name))
		default:
			if p := upsertPolicyReport(ctx, clients, api, policyReportFor(api, ns, at)); p != nil {
				report.Problems = append(report.Problems, *p)
				report.Summary.Complete = false
				continue
			}
			result.Written = append(result.Written, ns.Name)
		}
	}
}

// upsertPolicyReport creates the report or replaces one audit wrote before.
func upsertPolicyReport(ctx context.Context, clients *clusterClients, rapi *reportAPI, pr *policyReport) *auditProblem {
	resource := rapi.resource
	content, err := runtime.DefaultUnstructuredConverter.ToUnstructured(pr)
	if err != nil {
		p := apiProblem("create", resource.GroupResource(), pr.Metadata.Namespace, err)
		return &p
	}
	obj := &unstructured.Unstructured{Object: content}
	api := clients.dynamic.Resource(resource).Namespace(pr.Metadata.Namespace)
	existing, err := api.Get(ctx, pr.Metadata.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = api.Create(ctx, obj, metav1.CreateOptions{FieldManager: "gracekeeper"})
		if err != nil {
			p := apiProblem("create", resource.GroupResource(), pr.Metadata.Namespace, err)
			return &p
		}
	case err != nil:
		p := apiProblem("get", resource.GroupResource(), pr.Metadata.Namespace, err)
		return &p
	case existing.GetLabels()[managedByLabel] != policyName:
		return &auditProblem{Verb: "update", Resource: resource.GroupResource().String(), Namespace: pr.Metadata.Namespace, Reason: "conflict",
			Message: fmt.Sprintf("%s %s in namespace %q exists without the label %s=%s, so gracekeeper leaves it alone",
				pr.Kind, pr.Metadata.Name, pr.Metadata.Namespace, managedByLabel, policyName)}
	default:
		obj.SetResourceVersion(existing.GetResourceVersion())
		if _, err := api.Update(ctx, obj, metav1.UpdateOptions{FieldManager: "gracekeeper"}); err != nil {
			p := apiProblem("update", resource.GroupResource(), pr.Metadata.Namespace, err)
			return &p
		}
	}
	return nil
}

// policyReportFor turns a namespace's findings into report results: a deny
// fails, a patch or warning warns, a compliant workload passes.
func policyReportFor(api *reportAPI, ns *auditNamespace, at time.Time) *policyReport {
	pr := &policyReport{
		APIVersion: api.resource.GroupVersion().String(),
		Kind:       api.kind,
		Metadata: metav1.ObjectMeta{Name: policyReportName, Namespace: ns.Name,
			Labels: map[string]string{managedByLabel: policyName}},
		Results: []policyReportResult{},
	}
	if api.resource == openReportsResource {
		pr.Source = policyName
	}
	stamp := policyReportTimestamp{Seconds: at.Unix()}
	result := func(ref corev1.ObjectReference, f *policies.Finding) policyReportResult {
		r := policyReportResult{Policy: policyName, Result: "pass", Category: "Graceful rollouts", Source: policyName,
			Scored: true, Timestamp: stamp, Resources: []corev1.ObjectReference{ref},
			Message: "enforce mode would neither change nor deny it"}
		if f == nil {
			pr.Summary.Pass++
			return r
		}
		r.Rule, r.Message = string(f.Rule), cli.FindingText(*f)
		r.Properties = map[string]string{"action": string(f.Action), "mode": string(ns.Mode)}
		if len(f.Patch) > 0 {
			patch, _ := json.Marshal(f.Patch)
			r.Properties["patch"] = string(patch)
		}
		switch f.Action {
		case policies.ActionDeny:
			r.Result, r.Severity = "fail", "high"
			pr.Summary.Fail++
		case policies.ActionPatch:
			r.Result, r.Severity = "warn", "medium"
			pr.Summary.Warn++
		default:
			r.Result, r.Severity = "warn", "low"
			pr.Summary.Warn++
		}
		return r
	}
	for _, w := range ns.Workloads {
		ref := corev1.ObjectReference{APIVersion: "apps/v1", Kind: w.Kind, Namespace: ns.Name, Name: w.Name, UID: w.uid}
		if len(w.Findings) == 0 {
			pr.Results = append(pr.Results, result(ref, nil))
		}
		for i := range w.Findings {
			pr.Results = append(pr.Results, result(ref, &w.Findings[i]))
		}
		// An exempted finding is a skip: the rule was not applied to it.
		for _, f := range w.Exempted {
			r := result(ref, &f)
			pr.Summary.Warn, pr.Summary.Fail = pr.Summary.Warn-b2i(r.Result == "warn"), pr.Summary.Fail-b2i(r.Result == "fail")
			r.Result, r.Severity, r.Scored = "skip", "", false
			r.Message = fmt.Sprintf("exempted by %s: %s", policies.ExemptAnnotation, cmp.Or(w.reason, "no reason given"))
			r.Properties["exempted"] = f.Message
			pr.Summary.Skip++
			pr.Results = append(pr.Results, r)
		}
	}
	for _, p := range ns.Pods {
		ref := corev1.ObjectReference{APIVersion: "v1", Kind: "Pod", Namespace: ns.Name, Name: p.Name, UID: p.uid}
		for _, f := range p.Findings {
			f.Message = "running without a preStop hook; enforce mode would " + f.Message + " when the pod is recreated"
			pr.Results = append(pr.Results, result(ref, &f))
		}
	}
	return pr
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
