package webhook

import (
	"errors"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"
)

// previewNamespaceYAML is field case N22's namespace: a per-pull-request
// preview environment created from a template in enforce mode.
const previewNamespaceYAML = `
apiVersion: v1
kind: Namespace
metadata:
  name: preview-pr-123
  labels: {gracekeeper.io/mode: enforce, kubernetes.io/metadata.name: preview-pr-123, preview: "true"}
  %s
spec: {finalizers: [kubernetes]}
status: {phase: Active}
`

// A namespace DELETE is judged by what the namespace holds, read with one
// list per workload kind; when that read fails the guard stays as documented.
func TestNamespaceDeleteIsJudgedByWhatItHolds(t *testing.T) {
	const ns = "preview-pr-123"
	meta := func(name string) metav1.ObjectMeta { return metav1.ObjectMeta{Namespace: ns, Name: name} }
	web := &appsv1.Deployment{ObjectMeta: meta("web"), Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](3)}}
	webReplicaSet := &appsv1.ReplicaSet{ObjectMeta: meta("web-5d8f7c6b9"), Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To[int32](3)}}
	webReplicaSet.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "web", UID: "1", Controller: ptr.To(true)}}
	agent := &appsv1.DaemonSet{ObjectMeta: meta("agent"), Status: appsv1.DaemonSetStatus{DesiredNumberScheduled: 2}}
	stopped := &appsv1.StatefulSet{ObjectMeta: meta("db"), Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](0)}}
	bare := &appsv1.ReplicaSet{ObjectMeta: meta("legacy"), Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To[int32](2)}}
	rolloutReplicaSet := &appsv1.ReplicaSet{ObjectMeta: meta("canary-6d4f8"), Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To[int32](4)}}
	rolloutReplicaSet.OwnerReferences = []metav1.OwnerReference{{APIVersion: "argoproj.io/v1alpha1", Kind: "Rollout", Name: "canary", UID: "2", Controller: ptr.To(true)}}
	argocd := "system:serviceaccount:argocd:argocd-applicationset-controller"
	deleteNamespace := func(annotations string) request {
		return request{op: admissionv1.Delete, resource: "namespaces", oldObject: strings.Replace(previewNamespaceYAML, "%s", annotations, 1),
			options: `{propagationPolicy: Background}`, user: argocd,
			groups: []string{"system:serviceaccounts", "system:serviceaccounts:argocd", "system:authenticated"}}
	}

	tests := []struct {
		name     string
		objects  []runtime.Object
		request  request
		failList bool
		// lists is how many lists the webhook makes.
		lists   int
		allowed bool
		message string
	}{
		{name: "An empty preview namespace (field case N22) is deleted freely.",
			request: deleteNamespace(""), lists: 4, allowed: true},
		{name: "A namespace whose workloads run no pods is deleted freely.", objects: []runtime.Object{stopped},
			request: deleteNamespace(""), lists: 4, allowed: true},
		{name: "A namespace holding running workloads is denied, naming the first and counting the rest; a Deployment's ReplicaSet counts with it.",
			objects: []runtime.Object{web, webReplicaSet, agent, stopped, bare}, request: deleteNamespace(""), lists: 4,
			message: "gracekeeper workload-delete: deleting namespace/preview-pr-123 deletes deployment/web (3 pods) and 2 more. To decommission it, run"},
		{name: "A namespace holding only an Argo Rollout (which is not listed) is denied, naming the Rollout its ReplicaSet belongs to.",
			objects: []runtime.Object{rolloutReplicaSet}, request: deleteNamespace(""), lists: 4,
			message: "deletes rollout/canary (4 pods). To decommission it"},
		{name: "When the lists fail, the namespace stays guarded and the denial says it could not list them.", objects: []runtime.Object{web},
			request: deleteNamespace(""), failList: true, lists: 4,
			message: "deleting namespace/preview-pr-123 deletes every workload in it at once (gracekeeper could not list them)"},
		{name: "A namespace annotated to exempt workload-delete lists nothing.", objects: []runtime.Object{web},
			request: deleteNamespace("annotations: {gracekeeper.io/exempt: workload-delete, gracekeeper.io/exempt-reason: PR closed}"), lists: 0, allowed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := fake.NewClientset(tt.objects...)
			lists := 0
			client.PrependReactor("list", "*", func(action k8stesting.Action) (bool, runtime.Object, error) {
				lists++
				if action.GetNamespace() != ns {
					t.Errorf("listed %s in %q, want namespace %s", action.GetResource().Resource, action.GetNamespace(), ns)
				}
				if tt.failList {
					return true, nil, errors.New(`deployments.apps is forbidden`)
				}
				return false, nil, nil
			})
			fx := newFixtureReading(t, "", client)
			resp := fx.review(t, "/validate/enforce", tt.request)
			if resp.Allowed != tt.allowed {
				t.Errorf("allowed = %v, want %v (%s)", resp.Allowed, tt.allowed, resp.Result)
			}
			if tt.message != "" && (resp.Result == nil || !strings.Contains(resp.Result.Message, tt.message)) {
				t.Errorf("denial %v, want it to contain %q", resp.Result, tt.message)
			}
			if lists != tt.lists {
				t.Errorf("the webhook made %d lists, want %d", lists, tt.lists)
			}
		})
	}
}
