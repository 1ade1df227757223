package policies

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/gracekeeper/gracekeeper/policies/api/v1alpha1"
	"github.com/gracekeeper/gracekeeper/policies/policytest"
)

// The API server versions the tests run against: a current one, where auto
// picks the native sleep action, and one below 1.33, where it picks exec.
const (
	currentServer = "v1.37.2"
	oldServer     = "v1.32.0"
)

// newEngine builds an engine from a configuration file's text ("" for all
// defaults) and the API server version discovery would report.
func newEngine(t testing.TB, config, serverVersion string) *Engine {
	t.Helper()
	cfg, err := v1alpha1.Parse([]byte(config))
	if err != nil {
		t.Fatalf("parse config %q: %v", config, err)
	}
	e, err := New(cfg, serverVersion)
	if err != nil {
		t.Fatalf("new engine: %v", err)
	}
	return e
}

// defaultEngine has every default and a current API server.
func defaultEngine(t testing.TB) *Engine { return newEngine(t, "", currentServer) }

// execEngine has every default and an API server below 1.33.
func execEngine(t testing.TB) *Engine { return newEngine(t, "", oldServer) }

// Base manifests, as the objects' owners would write them. The Deployment is
// what `kubectl create deployment nginx --image=nginx:1.18 --replicas=3
// --dry-run=client -o yaml` prints.
const (
	basePod = `
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop}
spec:
  containers:
  - {name: app, image: nginx:1.18}
`
	baseDeployment = `
apiVersion: apps/v1
kind: Deployment
metadata:
  creationTimestamp: null
  labels: {app: nginx}
  name: nginx
  namespace: shop
spec:
  replicas: 3
  selector:
    matchLabels: {app: nginx}
  strategy: {}
  template:
    metadata:
      creationTimestamp: null
      labels: {app: nginx}
    spec:
      containers:
      - image: nginx:1.18
        name: nginx
        resources: {}
status: {}
`
	baseStatefulSet = `
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: shop}
spec:
  replicas: 3
  serviceName: db
  selector:
    matchLabels: {app: db}
  template:
    metadata:
      labels: {app: db}
    spec:
      containers:
      - {name: postgres, image: postgres:17}
`
	baseDaemonSet = `
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: shop}
spec:
  selector:
    matchLabels: {app: agent}
  template:
    metadata:
      labels: {app: agent}
    spec:
      containers:
      - {name: agent, image: fluent-bit:4}
status:
  desiredNumberScheduled: 4
`
	baseReplicaSet = `
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: nginx-7c5ddbdf54
  namespace: shop
  labels: {app: nginx, pod-template-hash: 7c5ddbdf54}
spec:
  replicas: 3
  selector:
    matchLabels: {app: nginx, pod-template-hash: 7c5ddbdf54}
  template:
    metadata:
      labels: {app: nginx, pod-template-hash: 7c5ddbdf54}
    spec:
      containers:
      - {name: nginx, image: nginx:1.18}
`
	baseNamespace = `
apiVersion: v1
kind: Namespace
metadata: {name: shop}
`
)

// Overlays shared by several tests, in JSON merge patch form.
const (
	// runningPod is a pod the kubelet runs, as the API server stores it.
	runningPod = `{spec: {nodeName: node-1}, status: {phase: Running}}`
	// replicaSetPod is a pod of the seed Deployment's ReplicaSet.
	replicaSetPod = `
metadata:
  name: nginx-7c5ddbdf54-x8r2f
  labels: {app: nginx, pod-template-hash: 7c5ddbdf54}
  ownerReferences:
  - {apiVersion: apps/v1, kind: ReplicaSet, name: nginx-7c5ddbdf54, uid: 1b3f, controller: true}
`
)

// manifest returns base with each overlay applied as a JSON merge patch
// (RFC 7386: objects merge, lists and scalars replace, null deletes), as JSON.
// Fields the compiled API types do not know survive, which the patch tests need.
func manifest(t testing.TB, base string, overlays ...string) []byte {
	t.Helper()
	doc := yamlToJSON(t, base)
	for _, overlay := range overlays {
		var err error
		doc, err = jsonpatch.MergePatch(doc, yamlToJSON(t, overlay))
		if err != nil {
			t.Fatalf("merge %s: %v", overlay, err)
		}
	}
	return doc
}

func yamlToJSON(t testing.TB, y string) []byte {
	t.Helper()
	data, err := yaml.YAMLToJSON([]byte(y))
	if err != nil {
		t.Fatalf("yaml %q: %v", y, err)
	}
	return data
}

// object decodes a manifest of any kind newObject knows.
func object(t testing.TB, base string, overlays ...string) runtime.Object {
	return decodeAs[runtime.Object](t, manifest(t, base, overlays...))
}

func pod(t testing.TB, overlays ...string) *corev1.Pod {
	return decodeAs[*corev1.Pod](t, manifest(t, basePod, overlays...))
}

func deployment(t testing.TB, overlays ...string) *appsv1.Deployment {
	return decodeAs[*appsv1.Deployment](t, manifest(t, baseDeployment, overlays...))
}

func statefulSet(t testing.TB, overlays ...string) *appsv1.StatefulSet {
	return decodeAs[*appsv1.StatefulSet](t, manifest(t, baseStatefulSet, overlays...))
}

func daemonSet(t testing.TB, overlays ...string) *appsv1.DaemonSet {
	return decodeAs[*appsv1.DaemonSet](t, manifest(t, baseDaemonSet, overlays...))
}

// ownedByDeployment overlays a ReplicaSet with the seed Deployment as its controller.
const ownedByDeployment = `{metadata: {ownerReferences: [{apiVersion: apps/v1, kind: Deployment, name: nginx, uid: 9e1c, controller: true}]}}`

// replicaSet is the ReplicaSet of the seed Deployment, orphaned or bare.
func replicaSet(t testing.TB, overlays ...string) *appsv1.ReplicaSet {
	return decodeAs[*appsv1.ReplicaSet](t, manifest(t, baseReplicaSet, overlays...))
}

func namespace(t testing.TB, overlays ...string) *corev1.Namespace {
	return decodeAs[*corev1.Namespace](t, manifest(t, baseNamespace, overlays...))
}

// scale is the autoscaling/v1 Scale the API server builds for `kubectl scale`.
func scale(name string, replicas int32) *autoscalingv1.Scale {
	return &autoscalingv1.Scale{
		TypeMeta:   metav1.TypeMeta{APIVersion: "autoscaling/v1", Kind: "Scale"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop"},
		Spec:       autoscalingv1.ScaleSpec{Replicas: replicas},
	}
}

// decodeObject decodes JSON by the kind it names, as Decode does for the webhook.
func decodeObject(data []byte) (runtime.Object, error) {
	var typeMeta metav1.TypeMeta
	if err := json.Unmarshal(data, &typeMeta); err != nil {
		return nil, fmt.Errorf("read kind: %w", err)
	}
	return Decode(typeMeta.GroupVersionKind(), data)
}

func decodeAs[T runtime.Object](t testing.TB, data []byte) T {
	t.Helper()
	obj, err := decodeObject(data)
	if err != nil {
		t.Fatalf("%v in %s", err, data)
	}
	typed, ok := obj.(T)
	if !ok {
		t.Fatalf("decoded a %T, want %T", obj, typed)
	}
	return typed
}

// alice is an ordinary user running kubectl.
var alice = UserInfo{Username: "alice@example.com", Groups: []string{"system:authenticated"}}

// Users the API server authenticates for the cluster's own components.
var (
	garbageCollector = UserInfo{Username: "system:serviceaccount:kube-system:generic-garbage-collector",
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"}}
	replicaSetController = UserInfo{Username: "system:serviceaccount:kube-system:replicaset-controller",
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"}}
	kubelet = UserInfo{Username: "system:node:node-1", Groups: []string{"system:nodes", "system:authenticated"}}
)

// review builds a request by alice about obj (the new object) and old (the
// stored one). The addressed kind and name come from whichever is set.
func review(op Operation, obj, old runtime.Object) *Review {
	r := &Review{Operation: op, Object: obj, OldObject: old, User: alice}
	subject := obj
	if subject == nil {
		subject = old
	}
	r.Kind = subject.GetObjectKind().GroupVersionKind().Kind
	if m, err := meta.Accessor(subject); err == nil {
		r.Namespace, r.Name = m.GetNamespace(), m.GetName()
	}
	return r
}

func create(obj runtime.Object) *Review      { return review(Create, obj, nil) }
func update(old, obj runtime.Object) *Review { return review(Update, obj, old) }

// deleteOf is a DELETE of the stored object old with the given options (nil: none sent).
func deleteOf(old runtime.Object, options *metav1.DeleteOptions) *Review {
	r := review(Delete, nil, old)
	r.DeleteOptions = options
	return r
}

// scaleUpdate is `kubectl scale kind/name --replicas=to` of an object at from.
func scaleUpdate(kind, name string, from, to int32) *Review {
	return &Review{Operation: Update, Kind: kind, SubResource: "scale", Namespace: "shop", Name: name,
		Object: scale(name, to), OldObject: scale(name, from), User: alice}
}

// by returns the review as sent by another user.
func by(user UserInfo, r *Review) *Review {
	r.User = user
	return r
}

func gracePeriod(seconds int64) *metav1.DeleteOptions {
	return &metav1.DeleteOptions{GracePeriodSeconds: &seconds}
}

func propagation(policy metav1.DeletionPropagation) *metav1.DeleteOptions {
	return &metav1.DeleteOptions{PropagationPolicy: &policy}
}

// op is an expected patch operation; value is the JSON it carries.
func op(kind, path, value string) PatchOp {
	return PatchOp{Op: kind, Path: path, Value: json.RawMessage(value)}
}

// only keeps the findings of one rule.
func only(id RuleID, findings []Finding) []Finding {
	var kept []Finding
	for _, f := range findings {
		if f.Rule == id {
			kept = append(kept, f)
		}
	}
	return kept
}

// patchOps collects every patch operation of the findings, including those
// meant for a workload's pods: applied to a template, they are what
// `check --fix` writes, and what each created pod gets.
func patchOps(findings []Finding) []PatchOp {
	var ops []PatchOp
	for _, f := range findings {
		if f.Action == ActionPatch {
			ops = append(ops, f.Patch...)
		}
	}
	return ops
}

// unsettledOps are the patches a re-evaluation of the patched object still
// asks for, after the findings were applied. Pod patches (OnPods) change the
// template only where `check --fix` writes them, and check names no requester,
// so change-cause says nothing there; through the API they go onto the Pods
// and leave the template, which change-cause reads, alone.
func unsettledOps(applied, again []Finding) []PatchOp {
	if slices.ContainsFunc(applied, func(f Finding) bool { return f.OnPods && f.Action == ActionPatch }) {
		again = slices.DeleteFunc(slices.Clone(again), func(f Finding) bool { return f.Rule == RuleChangeCause })
	}
	return patchOps(again)
}

// applyPatch applies ops to a document the way the API server applies a
// webhook's patch: strictly, so a replace of an absent field or an add under
// a missing parent fails.
func applyPatch(doc []byte, ops []PatchOp) ([]byte, error) {
	raw, err := json.Marshal(ops)
	if err != nil {
		return nil, fmt.Errorf("marshal patch: %w", err)
	}
	patch, err := jsonpatch.DecodePatch(raw)
	if err != nil {
		return nil, fmt.Errorf("decode patch %s: %w", raw, err)
	}
	options := jsonpatch.NewApplyOptions()
	options.EscapeHTML = false
	out, err := patch.ApplyWithOptions(doc, options)
	if err != nil {
		return nil, fmt.Errorf("apply patch %s: %w", raw, err)
	}
	return out, nil
}

// applyFindings applies the findings' patches to the object's original JSON
// and decodes the result.
func applyFindings(t testing.TB, original []byte, findings []Finding) ([]byte, runtime.Object) {
	t.Helper()
	out, err := applyPatch(original, patchOps(findings))
	if err != nil {
		t.Fatal(err)
	}
	obj, err := decodeObject(out)
	if err != nil {
		t.Fatalf("decode the patched object: %v", err)
	}
	return out, obj
}

// assertSettled applies the findings' patches to the reviewed object's
// original JSON and checks that evaluating the patched object finds no
// further patch.
func assertSettled(t testing.TB, evaluate func(*Review) []Finding, r *Review, original []byte, findings []Finding) {
	t.Helper()
	if len(patchOps(findings)) == 0 {
		return
	}
	out, obj := applyFindings(t, original, findings)
	again := *r
	again.Object = obj
	if ops := unsettledOps(findings, evaluate(&again)); len(ops) > 0 {
		t.Errorf("the patched object is patched again with %s\nafter %s", policytest.NormalJSON(t, ops), out)
	}
}

// assertFindings compares whole findings by their JSON, so a patch value may
// be written as raw JSON in the test.
func assertFindings(t testing.TB, got, want []Finding) {
	t.Helper()
	if g, w := policytest.NormalJSON(t, got), policytest.NormalJSON(t, want); g != w {
		t.Errorf("findings differ\ngot:\n%s\nwant:\n%s", g, w)
	}
}

// ruleCase is one row of a rule's table test.
type ruleCase struct {
	name string
	// engine is nil for defaultEngine.
	engine *Engine
	review *Review
	want   []Finding
}

// runRuleCases evaluates each review and compares the findings of one rule.
// Every patch must also apply to the object's JSON, and the patched object
// must need no further patch from the rule.
func runRuleCases(t *testing.T, id RuleID, cases []ruleCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			engine := tc.engine
			if engine == nil {
				engine = defaultEngine(t)
			}
			got := only(id, engine.Evaluate(tc.review))
			assertFindings(t, got, tc.want)
			if tc.review.Object == nil {
				return
			}
			original, err := json.Marshal(tc.review.Object)
			if err != nil {
				t.Fatal(err)
			}
			evaluate := func(r *Review) []Finding { return only(id, engine.Evaluate(r)) }
			assertSettled(t, evaluate, tc.review, original, got)
		})
	}
}
