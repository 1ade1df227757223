package webhook

import (
	"errors"
	"fmt"
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

// The web Deployment as stored (uid 7f3e), its template at image %s, with
// annotations %s.
const historyDeploymentYAML = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop, uid: 7f3e, annotations: {%s}}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: app, image: "%s", readinessProbe: {httpGet: {path: /, port: 80}}, lifecycle: {preStop: {sleep: {seconds: 5}}}}
`

// historyReplicaSetYAML is revision %d of web, at image %s, with change-cause %q.
const historyReplicaSetYAML = `
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: web-%[1]d
  namespace: shop
  labels: {app: web, pod-template-hash: "%[1]d"}
  annotations: {deployment.kubernetes.io/revision: "%[1]d", kubernetes.io/change-cause: %[3]q}
  ownerReferences: [{apiVersion: apps/v1, kind: Deployment, name: web, uid: %[4]s, controller: true}]
spec:
  selector: {matchLabels: {app: web, pod-template-hash: "%[1]d"}}
  template:
    metadata: {labels: {app: web, pod-template-hash: "%[1]d"}}
    spec:
      containers:
      - {name: app, image: "%[2]s", readinessProbe: {httpGet: {path: /, port: 80}}, lifecycle: {preStop: {sleep: {seconds: 5}}}}
`

// The webhook lists a workload's rollout history only on the mutating path,
// only for a write that changes its template, and recognises a rollback in it.
func TestChangeCauseReadsTheRolloutHistory(t *testing.T) {
	rs := func(n int, image, cause, owner string) runtime.Object {
		return decodeYAML(t, fmt.Sprintf(historyReplicaSetYAML, n, image, cause, owner), &appsv1.ReplicaSet{})
	}
	history := []runtime.Object{
		rs(1, "web:1", "created with image app=web:1 by alice via kubectl-create", "7f3e"),
		rs(2, "web:2", "image app=web:2 (was web:1) by alice via kubectl-set", "7f3e"),
		// Another Deployment's ReplicaSet under the same selector is not web's history.
		rs(3, "web:3", "not ours", "0000"),
	}
	undo := request{op: admissionv1.Update, resource: "deployments", user: "alice",
		oldObject: fmt.Sprintf(historyDeploymentYAML, `kubernetes.io/change-cause: "image app=web:2 (was web:1) by alice via kubectl-set"`, "web:2"),
		object:    fmt.Sprintf(historyDeploymentYAML, `kubernetes.io/change-cause: "created with image app=web:1 by alice via kubectl-create"`, "web:1")}
	setImage := undo
	setImage.object = fmt.Sprintf(historyDeploymentYAML, `kubernetes.io/change-cause: "image app=web:2 (was web:1) by alice via kubectl-set"`, "web:3")
	setImage.options = `{kind: UpdateOptions, apiVersion: meta.k8s.io/v1, fieldManager: kubectl-set}`
	scale := undo
	scale.object = strings.Replace(undo.oldObject, "selector:", "replicas: 5\n  selector:", 1)

	tests := []struct {
		name     string
		path     string
		request  request
		failList bool
		lists    int
		// patch is the change-cause the answer sets, "" for no patch.
		patch string
	}{
		{name: "kubectl rollout undo --to-revision=1 is recorded as the rollback, replacing the change-cause kubectl copied back.",
			path: "/mutate/enforce", request: undo, lists: 1, patch: "rollback to revision 1 (image app=web:1) by alice"},
		{name: "kubectl set image reads the history, finds no older revision, and records the change with its field manager.",
			path: "/mutate/enforce", request: setImage, lists: 1, patch: "image app=web:3 (was web:2) by alice via kubectl-set"},
		{name: "A write that leaves the template alone reads nothing and changes nothing.",
			path: "/mutate/enforce", request: scale, lists: 0},
		{name: "The validating webhook, which does not answer change-cause, reads nothing.",
			path: "/validate/enforce", request: undo, lists: 0},
		{name: "When the list fails, the request keeps the change-cause it wrote: it cannot be told from its own.",
			path: "/mutate/enforce", request: undo, failList: true, lists: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := fake.NewClientset(history...)
			lists := 0
			client.PrependReactor("list", "*", func(action k8stesting.Action) (bool, runtime.Object, error) {
				lists++
				if sel := action.(k8stesting.ListAction).GetListRestrictions().Labels.String(); sel != "app=web" || action.GetNamespace() != "shop" {
					t.Errorf("listed %s in %q by %q, want the namespace shop by the Deployment's selector", action.GetResource().Resource, action.GetNamespace(), sel)
				}
				if tt.failList {
					return true, nil, errors.New(`replicasets.apps is forbidden`)
				}
				return false, nil, nil
			})
			fx := newFixtureReading(t, "", client)
			resp := fx.review(t, tt.path, tt.request)
			if lists != tt.lists {
				t.Errorf("the webhook listed %d times, want %d", lists, tt.lists)
			}
			got := string(resp.Patch)
			switch {
			case tt.patch == "" && got != "" && got != "[]":
				t.Errorf("patch %s, want none", got)
			case tt.patch != "" && !strings.Contains(got, fmt.Sprintf("%q", tt.patch)):
				t.Errorf("patch %s, want it to set %q", got, tt.patch)
			}
		})
	}
}

// A StatefulSet's history is its ControllerRevisions, whose data holds the
// template as the controller stored it.
func TestChangeCauseReadsControllerRevisions(t *testing.T) {
	const sts = `
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: shop, uid: 5a1b}
spec:
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers:
      - {name: postgres, image: "%s", readinessProbe: {tcpSocket: {port: 5432}}, lifecycle: {preStop: {sleep: {seconds: 5}}}}
`
	revision := func(n int64, image string) runtime.Object {
		return &appsv1.ControllerRevision{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("db-%d", n), Namespace: "shop", Labels: map[string]string{"app": "db"},
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "db", UID: "5a1b", Controller: ptr.To(true)}}},
			Revision: n,
			Data: runtime.RawExtension{Raw: []byte(`{"spec":{"template":{"$patch":"replace","metadata":{"labels":{"app":"db"}},"spec":{"containers":[` +
				`{"name":"postgres","image":"` + image + `","readinessProbe":{"tcpSocket":{"port":5432}},"lifecycle":{"preStop":{"sleep":{"seconds":5}}}}]}}}}`)},
		}
	}
	client := fake.NewClientset(revision(1, "postgres:17"), revision(2, "postgres:18"))
	fx := newFixtureReading(t, "", client)
	resp := fx.review(t, "/mutate/enforce", request{op: admissionv1.Update, resource: "statefulsets", user: "alice",
		oldObject: fmt.Sprintf(sts, "postgres:18"), object: fmt.Sprintf(sts, "postgres:17")})
	if want := `"rollback to revision 1 (image postgres=postgres:17) by alice"`; !strings.Contains(string(resp.Patch), want) {
		t.Errorf("patch %s, want it to set %s", resp.Patch, want)
	}
}
