// Chart tests: RBAC, get on the parents of evictions and scales for the
// webhook, and the uninstall hook's narrow role.

package deploy

import (
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/gracekeeper/gracekeeper/policies"
	"github.com/gracekeeper/gracekeeper/webhook/admission"
)

func TestRBACIsGetOnTheParentsOfEvictionsAndScalesOnly(t *testing.T) {
	// Besides /version (system:discovery, every authenticated identity), the
	// webhook gets the pod of an eviction and the workload of a /scale, and
	// lists a workload's ReplicaSets or ControllerRevisions; only
	// the uninstall hook has other roles. (certificates.mode builtin adds
	// the roles of TestBuiltinCertificatesRBACIsItsSecretAndWebhooksByName.)
	objs := render(t, "gracekeeper", "certificates: {mode: certManager}\n")
	var roles, bindings []string
	for _, obj := range objs {
		if IsHook(obj) {
			continue
		}
		switch obj.GetKind() {
		case "Role", "RoleBinding":
			t.Errorf("%s %s: the webhook needs no namespaced permissions", obj.GetKind(), obj.GetName())
		case "ClusterRole":
			roles = append(roles, obj.GetName())
		case "ClusterRoleBinding":
			bindings = append(bindings, obj.GetName())
		}
	}
	if !slices.Equal(roles, []string{"gracekeeper-read-parents"}) || !slices.Equal(bindings, []string{"gracekeeper-read-parents"}) {
		t.Fatalf("ClusterRoles %v and bindings %v, want only gracekeeper-read-parents", roles, bindings)
	}
	role := find[rbacv1.ClusterRole](t, objs, "ClusterRole", "gracekeeper-read-parents")
	// The reads the entry table implies (admission.Reads): get on the
	// parents of the subresources the entries receive, list on what a
	// namespace DELETE is judged by and on the workloads' rollout history.
	// The chart may group and order them as it likes, but grant exactly them.
	if got, want := grants(role.Rules), grants(admission.Reads()); !reflect.DeepEqual(got, want) {
		t.Errorf("rules = %+v, want exactly what the entry table reads: %v", role.Rules, want)
	}
	for _, want := range []string{"get  pods", "get apps deployments", "get apps replicasets", "list apps replicasets", "list apps controllerrevisions"} {
		if !slices.Contains(grants(admission.Reads()), want) {
			t.Errorf("the entry table reads %v, without %q", grants(admission.Reads()), want)
		}
	}
	binding := find[rbacv1.ClusterRoleBinding](t, objs, "ClusterRoleBinding", "gracekeeper-read-parents")
	deployment := find[appsv1.Deployment](t, objs, "Deployment", "gracekeeper")
	if binding.RoleRef.Name != role.Name || len(binding.Subjects) != 1 || binding.Subjects[0].Kind != "ServiceAccount" ||
		binding.Subjects[0].Name != deployment.Spec.Template.Spec.ServiceAccountName || binding.Subjects[0].Namespace != "gracekeeper" {
		t.Errorf("binding %+v, want the role bound to the webhook's ServiceAccount", binding)
	}
}

// grants lists what RBAC rules allow as "verb group resource", sorted, each once.
func grants(rules []rbacv1.PolicyRule) []string {
	var out []string
	for _, r := range rules {
		for _, verb := range r.Verbs {
			for _, group := range r.APIGroups {
				for _, resource := range r.Resources {
					out = append(out, verb+" "+group+" "+resource)
				}
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func TestUninstallHookDeletesTheWebhookConfigurations(t *testing.T) {
	// The helm test hooks are TestHelmTestDryRunsAPodInAnEnforceNamespace's.
	objs := render(t, "gracekeeper", "test: {enabled: false}\n")
	mutating, validating := webhooks(t, objs)
	var hooks []*unstructured.Unstructured
	for _, obj := range objs {
		if IsHook(obj) {
			hooks = append(hooks, obj)
		}
	}
	weight := map[string]string{}
	for _, h := range hooks {
		a := h.GetAnnotations()
		if a["helm.sh/hook"] != "pre-delete" || !strings.Contains(a["helm.sh/hook-delete-policy"], "hook-succeeded") {
			t.Errorf("hook %s %s has annotations %v, want a pre-delete hook deleted when it succeeds", h.GetKind(), h.GetName(), a)
		}
		weight[h.GetKind()] = a["helm.sh/hook-weight"]
	}

	job := find[batchv1.Job](t, objs, "Job", "gracekeeper-cleanup")
	role := find[rbacv1.ClusterRole](t, objs, "ClusterRole", "gracekeeper-cleanup")
	binding := find[rbacv1.ClusterRoleBinding](t, objs, "ClusterRoleBinding", "gracekeeper-cleanup")
	sa := find[corev1.ServiceAccount](t, objs, "ServiceAccount", job.Spec.Template.Spec.ServiceAccountName)

	c := job.Spec.Template.Spec.Containers[0]
	wantArgs := []string{"cleanup", "--mutating=" + mutating.Name, "--validating=" + validating.Name}
	if !reflect.DeepEqual(c.Args, wantArgs) {
		t.Errorf("cleanup args = %v, want %v", c.Args, wantArgs)
	}
	if d := find[appsv1.Deployment](t, objs, "Deployment", "gracekeeper"); c.Image != d.Spec.Template.Spec.Containers[0].Image {
		t.Errorf("cleanup image %s differs from the webhook's %s; no extra image should be needed", c.Image, d.Spec.Template.Spec.Containers[0].Image)
	}
	checkRestricted(t, c)
	if psc := job.Spec.Template.Spec.SecurityContext; psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		t.Errorf("cleanup pod securityContext = %+v, want runAsNonRoot", psc)
	}

	// The role may delete exactly the two configurations and nothing else.
	wantRules := []rbacv1.PolicyRule{
		{APIGroups: []string{"admissionregistration.k8s.io"}, Resources: []string{"mutatingwebhookconfigurations"}, ResourceNames: []string{mutating.Name}, Verbs: []string{"delete"}},
		{APIGroups: []string{"admissionregistration.k8s.io"}, Resources: []string{"validatingwebhookconfigurations"}, ResourceNames: []string{validating.Name}, Verbs: []string{"delete"}},
	}
	if !reflect.DeepEqual(role.Rules, wantRules) {
		t.Errorf("cleanup rules = %+v, want %+v", role.Rules, wantRules)
	}
	wantSubject := rbacv1.Subject{Kind: "ServiceAccount", Name: sa.Name, Namespace: sa.Namespace}
	if binding.RoleRef.Name != role.Name || !reflect.DeepEqual(binding.Subjects, []rbacv1.Subject{wantSubject}) {
		t.Errorf("binding %+v does not bind %s to %+v", binding, role.Name, wantSubject)
	}
	// Helm runs hooks by weight: the RBAC must exist before the Job starts.
	for _, kind := range []string{"ServiceAccount", "ClusterRole", "ClusterRoleBinding"} {
		if hookWeight(t, weight[kind]) >= hookWeight(t, weight["Job"]) {
			t.Errorf("%s hook weight %s is not below the Job's %s", kind, weight[kind], weight["Job"])
		}
	}

	for _, obj := range render(t, "gracekeeper", "cleanup: {enabled: false}\ntest: {enabled: false}\n") {
		if IsHook(obj) {
			t.Errorf("hook %s %s rendered with cleanup and test disabled", obj.GetKind(), obj.GetName())
		}
	}
}

func hookWeight(t *testing.T, s string) int {
	t.Helper()
	var w int
	if _, err := fmt.Sscan(s, &w); err != nil {
		t.Fatalf("hook weight %q: %v", s, err)
	}
	return w
}

func TestBuiltinCertificatesRBACIsItsSecretAndWebhooksByName(t *testing.T) {
	objs := render(t, "security", "")
	role := find[rbacv1.Role](t, objs, "Role", "gracekeeper-certificates")
	if role.Namespace != "security" {
		t.Errorf("Role in namespace %q, want the release namespace", role.Namespace)
	}
	wantRole := []rbacv1.PolicyRule{
		// cert-controller's cache lists and watches the namespace's Secrets.
		{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"list", "watch"}},
		{APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: []string{"gracekeeper-tls"}, Verbs: []string{"get", "update", "patch"}},
	}
	if !reflect.DeepEqual(role.Rules, wantRole) {
		t.Errorf("Role rules = %+v, want %+v", role.Rules, wantRole)
	}
	webhookKinds := []string{"mutatingwebhookconfigurations", "validatingwebhookconfigurations"}
	clusterRole := find[rbacv1.ClusterRole](t, objs, "ClusterRole", "gracekeeper-cabundle")
	wantClusterRole := []rbacv1.PolicyRule{
		{APIGroups: []string{"admissionregistration.k8s.io"}, Resources: webhookKinds, Verbs: []string{"list", "watch"}},
		{APIGroups: []string{"admissionregistration.k8s.io"}, Resources: webhookKinds, ResourceNames: []string{"gracekeeper"}, Verbs: []string{"get", "update", "patch"}},
	}
	if !reflect.DeepEqual(clusterRole.Rules, wantClusterRole) {
		t.Errorf("ClusterRole rules = %+v, want %+v", clusterRole.Rules, wantClusterRole)
	}
	mutating, validating := webhooks(t, objs)
	if mutating.Name != "gracekeeper" || validating.Name != "gracekeeper" {
		t.Errorf("webhook configurations %s and %s, want the name the ClusterRole allows", mutating.Name, validating.Name)
	}
	serviceAccount := find[appsv1.Deployment](t, objs, "Deployment", "gracekeeper").Spec.Template.Spec.ServiceAccountName
	binding := find[rbacv1.RoleBinding](t, objs, "RoleBinding", "gracekeeper-certificates")
	clusterBinding := find[rbacv1.ClusterRoleBinding](t, objs, "ClusterRoleBinding", "gracekeeper-cabundle")
	for _, b := range []struct {
		role     rbacv1.RoleRef
		subjects []rbacv1.Subject
		want     string
	}{{binding.RoleRef, binding.Subjects, role.Name}, {clusterBinding.RoleRef, clusterBinding.Subjects, clusterRole.Name}} {
		if b.role.Name != b.want || len(b.subjects) != 1 || b.subjects[0].Name != serviceAccount || b.subjects[0].Namespace != "security" {
			t.Errorf("binding of %s = %+v %+v, want it bound to ServiceAccount security/%s", b.want, b.role, b.subjects, serviceAccount)
		}
	}
	for _, mode := range []string{"certManager", "provided, provided: {secretName: s, caBundle: YQ==}"} {
		for _, obj := range render(t, "security", "certificates: {mode: "+mode+"}\n") {
			if name := obj.GetName(); name == role.Name || name == clusterRole.Name || (obj.GetKind() == "Secret" && name == "gracekeeper-tls") {
				t.Errorf("mode %s renders %s %s", mode, obj.GetKind(), name)
			}
		}
	}
}

func TestHelmTestDryRunsAPodInAnEnforceNamespace(t *testing.T) {
	objs := render(t, "security", "")
	ns := find[corev1.Namespace](t, objs, "Namespace", "gracekeeper-test")
	pod := find[corev1.Pod](t, objs, "Pod", "gracekeeper-test")
	sa := find[corev1.ServiceAccount](t, objs, "ServiceAccount", pod.Spec.ServiceAccountName)
	role := find[rbacv1.Role](t, objs, "Role", "gracekeeper-test")
	binding := find[rbacv1.RoleBinding](t, objs, "RoleBinding", "gracekeeper-test")

	if ns.Labels["gracekeeper.io/mode"] != "enforce" {
		t.Errorf("test namespace labels %v, want gracekeeper.io/mode=enforce", ns.Labels)
	}
	// Helm deletes the namespace after the test: gracekeeper must let it.
	if ns.Annotations["gracekeeper.io/exempt"] != "workload-delete" || ns.Annotations["gracekeeper.io/exempt-reason"] == "" {
		t.Errorf("test namespace annotations %v, want the workload-delete exemption with a reason", ns.Annotations)
	}
	c := pod.Spec.Containers[0]
	if want := []string{"selftest", "--namespace=" + ns.Name}; !reflect.DeepEqual(c.Args, want) {
		t.Errorf("test pod args %v, want %v", c.Args, want)
	}
	if d := find[appsv1.Deployment](t, objs, "Deployment", "gracekeeper"); c.Image != d.Spec.Template.Spec.Containers[0].Image {
		t.Errorf("test image %s differs from the webhook's %s; no extra image should be needed", c.Image, d.Spec.Template.Spec.Containers[0].Image)
	}
	checkRestricted(t, c)
	if pod.Spec.RestartPolicy != corev1.RestartPolicyNever || pod.Namespace != "security" {
		t.Errorf("test pod %s/%s restartPolicy %s, want Never in the release namespace", pod.Namespace, pod.Name, pod.Spec.RestartPolicy)
	}
	// Only creating pods (the dry run) in the test namespace.
	wantRules := []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"create"}}}
	if role.Namespace != ns.Name || !reflect.DeepEqual(role.Rules, wantRules) {
		t.Errorf("Role %s/%s rules %+v, want %+v in %s", role.Namespace, role.Name, role.Rules, wantRules, ns.Name)
	}
	wantSubject := rbacv1.Subject{Kind: "ServiceAccount", Name: sa.Name, Namespace: "security"}
	if binding.Namespace != ns.Name || binding.RoleRef.Name != role.Name || !reflect.DeepEqual(binding.Subjects, []rbacv1.Subject{wantSubject}) {
		t.Errorf("RoleBinding %+v does not bind %s to %+v", binding, role.Name, wantSubject)
	}
	weights := map[string]int{}
	for _, obj := range objs {
		a := obj.GetAnnotations()
		if obj.GetName() != "gracekeeper-test" {
			continue
		}
		if a["helm.sh/hook"] != "test" || !strings.Contains(a["helm.sh/hook-delete-policy"], "hook-succeeded") {
			t.Errorf("%s %s annotations %v, want a test hook deleted when it succeeds", obj.GetKind(), obj.GetName(), a)
		}
		weights[obj.GetKind()] = hookWeight(t, a["helm.sh/hook-weight"])
	}
	for _, kind := range []string{"Namespace", "ServiceAccount", "Role", "RoleBinding"} {
		if weights[kind] >= weights["Pod"] {
			t.Errorf("%s hook weight %d is not below the Pod's %d", kind, weights[kind], weights["Pod"])
		}
	}
}

// The chart's README and docs/install.md say, in prose, what the ClusterRole
// grants; both must name, for each verb, exactly the resources of the entry
// table's reads (admission.Reads), so that a change to the table that
// changes the grants cannot leave them stale.
func TestDocsNameTheReadsOfTheEntryTable(t *testing.T) {
	want := map[string][]string{} // verb -> resources
	vocabulary := map[string]bool{"pods": true}
	for _, r := range admission.Reads() {
		for _, verb := range r.Verbs {
			want[verb] = append(want[verb], r.Resources...)
		}
		for _, res := range r.Resources {
			vocabulary[res] = true
		}
	}
	for _, k := range policies.Kinds() {
		vocabulary[k.Resource] = true
		if k.History != "" {
			vocabulary[k.History] = true
		}
	}
	for _, doc := range []struct{ path, start string }{
		{ChartDir + "/README.md", "| ClusterRole and ClusterRoleBinding `<release>-read-parents` |"},
		{"../docs/install.md", "The chart's ClusterRole `<release>-read-parents` grants exactly that:"},
	} {
		data, err := os.ReadFile(doc.path)
		if err != nil {
			t.Fatal(err)
		}
		_, text, ok := strings.Cut(string(data), doc.start)
		if !ok {
			t.Fatalf("%s has no %q", doc.path, doc.start)
		}
		text, _, _ = strings.Cut(text, "No watch")
		// Each "`verb` on" starts the resources granted that verb, up to the next.
		said := map[string][]string{}
		verb := ""
		for _, m := range regexp.MustCompile("`([a-z]+)`\\s+on\\b|[a-z]+").FindAllStringSubmatch(strings.ToLower(text), -1) {
			word := m[0]
			if m[1] != "" {
				verb = m[1]
				continue
			}
			if verb != "" && vocabulary[word] && !slices.Contains(said[verb], word) {
				said[verb] = append(said[verb], word)
			}
		}
		for v := range want {
			if got, w := slices.Sorted(slices.Values(said[v])), slices.Sorted(slices.Values(want[v])); !slices.Equal(got, w) {
				t.Errorf("%s says %s on %v, the entry table reads %v (admission.Reads)", doc.path, v, got, w)
			}
		}
		for v := range said {
			if _, ok := want[v]; !ok {
				t.Errorf("%s says %s on %v, a verb the entry table never uses", doc.path, v, said[v])
			}
		}
	}
}
