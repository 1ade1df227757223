package admission

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"

	"github.com/gracekeeper/gracekeeper/policies"
	"github.com/gracekeeper/gracekeeper/policies/policytest"
)

// FuzzDecide feeds arbitrary JSON, as the object and the stored object, to
// every operation in both modes under several configurations, and holds each
// webhook's answer to its invariants: the mutating webhook always answers a
// patch and the validating one never, audit never denies or patches, a
// denial is one valid line without warnings or patch, every warning is one
// the API server sends, and in audit mode the two webhooks together report
// each finding once. Policies' fuzz targets hold the findings to theirs.
// `go test` runs the seed corpus: the objects of policies' rule fixtures and
// testdata/patches, and container-heavy ones at the bound and past it.
func FuzzDecide(f *testing.F) {
	f.Add([]byte(`{}`), []byte(`{}`))
	paths, err := policytest.RuleFixtures(ruleFixtures)
	if err != nil {
		f.Fatal(err)
	}
	for _, path := range paths {
		fr, err := policytest.LoadRuleFixture(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add([]byte(fr.Object), []byte(fr.OldObject))
		f.Add([]byte(fr.OldObject), []byte(fr.Object))
	}
	patches, err := filepath.Glob(filepath.Join("..", "..", "policies", "testdata", "patches", "*.json"))
	if err != nil || len(patches) == 0 {
		f.Fatalf("no patch seeds: %v", err)
	}
	for _, path := range patches {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, []byte(nil))
	}
	for _, n := range []int{policies.MaxContainers, policies.MaxContainers + 1} {
		f.Add(policytest.ContainerHeavyPod(n), []byte(nil))
		f.Add(policytest.ContainerHeavyDeployment(n), []byte(nil))
	}
	engines := []*policies.Engine{
		engineWith(f, ""),
		engineWith(f, "preStop: {sleepSeconds: 30}\nshutdownSeconds: 0\nrecreate: convert\npodDelete: deny\n"+
			"revisionHistory: {minimum: 100}\nrollingUpdate: {maxSurge: 1}\nserverVersion: v1.32.0"),
		engineWith(f, "preStop: {skipOwnerKinds: []}\nrollingUpdate: {action: deny}\nrecreate: warn\n"+
			"revisionHistory: {action: warn}\nworkloadDelete: warn\n"+
			"exemptions: [{rules: [scale-to-zero], users: [alice@example.com]}]"),
	}
	f.Fuzz(func(t *testing.T, data, oldData []byte) {
		obj, err := decodeFixtureObject(data)
		if err != nil || obj == nil {
			return
		}
		old, err := decodeFixtureObject(oldData)
		if err != nil || old == nil || old.GetObjectKind().GroupVersionKind() != obj.GetObjectKind().GroupVersionKind() {
			old = obj
		}
		for _, engine := range engines {
			for _, r := range fuzzReviews(obj, old) {
				checkAnswers(t, r, engine.Evaluate(r))
			}
		}
	})
}

// fuzzReviews are the requests the API server can send about such objects.
func fuzzReviews(obj, old runtime.Object) []*policies.Review {
	kind := obj.GetObjectKind().GroupVersionKind().Kind
	var namespace, name string
	if m, err := meta.Accessor(obj); err == nil {
		namespace, name = m.GetNamespace(), m.GetName()
	}
	review := func(op policies.Operation, user policies.UserInfo) *policies.Review {
		return &policies.Review{Operation: op, Kind: kind, Namespace: namespace, Name: name, User: user}
	}
	if kind == policies.ScaleGVK.Kind {
		var reviews []*policies.Review
		for _, parent := range []string{"Deployment", "StatefulSet"} {
			r := review(policies.Update, alice)
			r.Kind, r.SubResource, r.Object, r.OldObject = parent, "scale", obj, old
			reviews = append(reviews, r)
		}
		return reviews
	}
	replicaSetController := policies.UserInfo{Username: "system:serviceaccount:kube-system:replicaset-controller",
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"}}
	kubelet := policies.UserInfo{Username: "system:node:node-1", Groups: []string{"system:nodes", "system:authenticated"}}
	create, byController, update := review(policies.Create, alice), review(policies.Create, replicaSetController), review(policies.Update, alice)
	create.Object, byController.Object, update.Object, update.OldObject = obj, obj, obj, old
	reviews := []*policies.Review{create, byController, update}
	for _, options := range []*metav1.DeleteOptions{nil, {GracePeriodSeconds: ptr.To[int64](0)},
		{PropagationPolicy: ptr.To(metav1.DeletePropagationOrphan)}} {
		r := review(policies.Delete, alice)
		r.OldObject, r.DeleteOptions = obj, options
		reviews = append(reviews, r)
	}
	r := review(policies.Delete, kubelet)
	r.OldObject, r.DeleteOptions = obj, &metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}
	return append(reviews, r)
}

// checkAnswers checks every invariant of both webhooks' answers in both modes.
func checkAnswers(t *testing.T, r *policies.Review, findings []policies.Finding) {
	t.Helper()
	for _, mode := range []policies.Mode{policies.ModeEnforce, policies.ModeAudit} {
		reported := 0
		for _, w := range []Webhook{Mutating, Validating} {
			d := Decide(w, mode, r, findings)
			reported += len(d.Reported)
			for _, warning := range d.Warnings {
				assertValidWarning(t, warning)
			}
			if (d.Patch == nil) != (w == Validating) {
				t.Errorf("%s %s: patch %v; the mutating webhook always answers one, the validating one never", w, mode, d.Patch)
			}
			if mode == policies.ModeAudit && (!d.Allowed || len(d.Patch) > 0) {
				t.Errorf("audit denied or patched: %+v", d)
			}
			if !d.Allowed && (len(d.Warnings) > 0 || len(d.Patch) > 0 || d.Message == "" ||
				strings.ContainsAny(d.Message, "\r\n") || !utf8.ValidString(d.Message)) {
				t.Errorf("a denial must be one valid line, without warnings or patch: %+v", d)
			}
		}
		if mode == policies.ModeAudit && reported != len(findings) {
			t.Errorf("%s %s: the two webhooks report %d of %d findings; each must report each once", r.Operation, r.Kind, reported, len(findings))
		}
	}
}
