package deploy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"

	"github.com/gracekeeper/gracekeeper/policies"
	"github.com/gracekeeper/gracekeeper/webhook/admission"
)

// guardedRequests are the requests through which a controller stops pods,
// as the validating entries of the entry table receive them: a DELETE (of a
// pod, a workload or a namespace), a write of a /scale, the CREATE of an
// eviction, each as the RBAC verbs that make it.
func guardedRequests() []struct{ group, resource, verb string } {
	verbsOf := map[admissionregistrationv1.OperationType][]string{
		admissionregistrationv1.Create: {"create"},
		admissionregistrationv1.Update: {"update", "patch"},
		admissionregistrationv1.Delete: {"delete"},
	}
	var out []struct{ group, resource, verb string }
	for _, e := range admission.Entries() {
		if e.Webhook != admission.Validating {
			continue
		}
		for _, r := range e.Rules() {
			for _, op := range r.Operations {
				for _, group := range r.APIGroups {
					for _, resource := range r.Resources {
						// A write of an object itself keeps its pods running;
						// only a subresource's write or a delete stops them.
						if op != admissionregistrationv1.Delete && !strings.Contains(resource, "/") {
							continue
						}
						for _, verb := range verbsOf[op] {
							out = append(out, struct{ group, resource, verb string }{group, resource, verb})
						}
					}
				}
			}
		}
	}
	return out
}

// The Kubernetes release that the control-plane tools module builds ships
// its bootstrap controller roles and bindings as test data (the output of
// bootstrappolicy.ControllerRoles and ControllerRoleBindings). Every
// controller account whose role may make a guarded request must be a system
// actor, in the engine and in the chart's matchConditions: otherwise a
// release that adds a controller (as 1.36 did with DRA device-taint
// eviction) has its pod deletes judged, and denied under podDelete: deny.
func TestEveryBootstrapControllerThatDeletesOrScalesIsASystemActor(t *testing.T) {
	dir := kubernetesModuleDir(t)
	policy := filepath.Join(dir, "plugin", "pkg", "auth", "authorizer", "rbac", "bootstrappolicy", "testdata")
	var roles struct{ Items []rbacv1.ClusterRole }
	var bindings struct{ Items []rbacv1.ClusterRoleBinding }
	readYAML(t, filepath.Join(policy, "controller-roles.yaml"), &roles)
	readYAML(t, filepath.Join(policy, "controller-role-bindings.yaml"), &bindings)
	if len(roles.Items) < 20 || len(bindings.Items) < 20 {
		t.Fatalf("read %d controller roles and %d bindings from %s, want the whole bootstrap policy", len(roles.Items), len(bindings.Items), policy)
	}

	accounts := map[string][]string{} // username -> the guarded requests its role allows
	for _, role := range roles.Items {
		var allowed []string
		for _, req := range guardedRequests() {
			if slices.ContainsFunc(role.Rules, func(r rbacv1.PolicyRule) bool { return allows(r, req.group, req.resource, req.verb) }) {
				allowed = append(allowed, req.verb+" "+req.resource)
			}
		}
		if len(allowed) == 0 {
			continue
		}
		bound := false
		for _, b := range bindings.Items {
			if b.RoleRef.Kind != "ClusterRole" || b.RoleRef.Name != role.Name {
				continue
			}
			for _, s := range b.Subjects {
				if s.Kind == rbacv1.ServiceAccountKind {
					accounts[fmt.Sprintf("system:serviceaccount:%s:%s", s.Namespace, s.Name)] = allowed
					bound = true
				}
			}
		}
		if !bound {
			t.Errorf("role %s may %s but no binding names its service account", role.Name, strings.Join(allowed, ", "))
		}
	}
	// Sanity: the derivation finds the controllers everyone knows.
	for _, known := range []string{"replicaset-controller", "generic-garbage-collector", "horizontal-pod-autoscaler"} {
		if _, ok := accounts["system:serviceaccount:kube-system:"+known]; !ok {
			t.Fatalf("the bootstrap policy gives %s no guarded request; the derivation is wrong: %v", known, accounts)
		}
	}

	_, validating := webhooks(t, render(t, "gracekeeper", ""))
	for username, allowed := range accounts {
		if !policies.IsSystemActor(policies.UserInfo{Username: username}) {
			t.Errorf("%s may %s, but it is not a system actor in policies", username, strings.Join(allowed, ", "))
		}
		for _, w := range validating.Webhooks {
			if !slices.ContainsFunc(w.MatchConditions, func(c admissionregistrationv1.MatchCondition) bool {
				return strings.Contains(c.Expression, fmt.Sprintf("%q", username))
			}) {
				t.Errorf("%s may %s, but webhook %s's matchConditions do not exclude it", username, strings.Join(allowed, ", "), w.Name)
			}
		}
	}
}

// allows reports whether an RBAC rule grants verb on group/resource (a
// resource may name a subresource, "deployments/scale"), with RBAC's
// wildcards: "*" for groups, verbs and resources, and "*/scale".
func allows(r rbacv1.PolicyRule, group, resource, verb string) bool {
	if !slices.Contains(r.APIGroups, group) && !slices.Contains(r.APIGroups, rbacv1.APIGroupAll) {
		return false
	}
	if !slices.Contains(r.Verbs, verb) && !slices.Contains(r.Verbs, rbacv1.VerbAll) {
		return false
	}
	if slices.Contains(r.Resources, resource) || slices.Contains(r.Resources, rbacv1.ResourceAll) {
		return true
	}
	_, sub, ok := strings.Cut(resource, "/")
	return ok && slices.Contains(r.Resources, "*/"+sub)
}

// kubernetesModuleDir is the k8s.io/kubernetes module that e2e/tools
// builds the control plane from, downloaded into the module cache.
func kubernetesModuleDir(t *testing.T) string {
	t.Helper()
	tools := filepath.Join("..", "e2e", "tools")
	gomod, err := os.ReadFile(filepath.Join(tools, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	var version string
	for _, line := range strings.Split(string(gomod), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "k8s.io/kubernetes" {
			version = f[1]
		}
	}
	if version == "" {
		t.Fatalf("%s/go.mod requires no k8s.io/kubernetes", tools)
	}
	cmd := exec.Command("go", "mod", "download", "-json", "k8s.io/kubernetes@"+version)
	cmd.Dir = tools
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go mod download k8s.io/kubernetes@%s: %v\n%s%s", version, err, out, stderr.Bytes())
	}
	var module struct{ Dir, Error string }
	if err := json.Unmarshal(out, &module); err != nil || module.Dir == "" {
		t.Fatalf("go mod download k8s.io/kubernetes@%s printed no module directory (%v %s):\n%s", version, err, module.Error, out)
	}
	return module.Dir
}

func readYAML(t *testing.T, path string, into any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, into); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
