package policies

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	sigsjson "sigs.k8s.io/json"

	"github.com/gracekeeper/gracekeeper/policies/policytest"
)

// The fuzz targets feed arbitrary JSON, as the object and the stored object,
// to every operation in both modes under several configurations. They check
// that the engine never panics, answers the same twice, and produces patches
// that apply cleanly to the JSON it was given and settle. What the webhooks
// answer is held to its invariants by admission's FuzzDecide, on the same
// seeds. `go test` runs the seed corpus, built from the fixtures in
// testdata/rules and testdata/patches, and the crashers in testdata/fuzz.

func FuzzEvaluatePod(f *testing.F)         { fuzzEvaluate(f, "Pod") }
func FuzzEvaluateDeployment(f *testing.F)  { fuzzEvaluate(f, "Deployment") }
func FuzzEvaluateStatefulSet(f *testing.F) { fuzzEvaluate(f, "StatefulSet") }
func FuzzEvaluateDaemonSet(f *testing.F)   { fuzzEvaluate(f, "DaemonSet") }
func FuzzEvaluateScale(f *testing.F)       { fuzzEvaluate(f, "Scale") }
func FuzzEvaluateNamespace(f *testing.F)   { fuzzEvaluate(f, "Namespace") }

func fuzzEvaluate(f *testing.F, kind string) {
	for _, seed := range fuzzSeeds(f, kind) {
		f.Add(seed[0], seed[1])
	}
	engines := []*Engine{
		defaultEngine(f),
		newEngine(f, "preStop: {sleepSeconds: 30}\nshutdownSeconds: 0\nrecreate: convert\npodDelete: deny\n"+
			"revisionHistory: {minimum: 100}\nrollingUpdate: {maxSurge: 1}", oldServer),
		newEngine(f, "preStop: {skipOwnerKinds: []}\nrollingUpdate: {action: deny}\nrecreate: warn\n"+
			"revisionHistory: {action: warn}\nworkloadDelete: warn\n"+
			"exemptions: [{rules: [scale-to-zero], users: [alice@example.com]}]", currentServer),
	}
	f.Fuzz(func(t *testing.T, data, oldData []byte) {
		obj, ok := fuzzDecode(kind, data)
		if !ok {
			return
		}
		old, ok := fuzzDecode(kind, oldData)
		if !ok {
			old = obj
		}
		for _, engine := range engines {
			for _, r := range fuzzReviews(kind, obj, old) {
				checkEvaluation(t, engine, r, data)
			}
		}
	})
}

// fuzzSeeds pairs each object of the kind found in the fixtures with its
// stored object, or with itself.
func fuzzSeeds(f *testing.F, kind string) [][2][]byte {
	seeds := [][2][]byte{{[]byte(`{}`), []byte(`{}`)}}
	add := func(obj, old []byte) {
		if namedKind(obj) != kind {
			return
		}
		if namedKind(old) != kind {
			old = obj
		}
		if _, ok := fuzzDecode(kind, obj); !ok {
			f.Fatalf("seed %s is skipped as undecodable", obj)
		}
		seeds = append(seeds, [2][]byte{obj, old})
	}
	err := filepath.WalkDir(fixturesDir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(path, goldenSuffix) || !strings.HasSuffix(path, ".yaml") {
			return err
		}
		fx, err := loadFixture(path)
		if err != nil {
			return err
		}
		add(fx.object, fx.oldObject)
		add(fx.oldObject, fx.object)
		return nil
	})
	if err != nil {
		f.Fatal(err)
	}
	patches, err := filepath.Glob(filepath.Join("testdata", "patches", "*.json"))
	if err != nil {
		f.Fatal(err)
	}
	for _, path := range patches {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		add(data, nil)
	}
	// Container-heavy objects, at the bound and past it: the shape that
	// costs the most per byte, where a quadratic path would show.
	for _, n := range []int{MaxContainers, MaxContainers + 1} {
		add(policytest.ContainerHeavyPod(n), nil)
		add(policytest.ContainerHeavyDeployment(n), nil)
	}
	return seeds
}

func namedKind(data []byte) string {
	var typeMeta metav1.TypeMeta
	if json.Unmarshal(data, &typeMeta) != nil {
		return ""
	}
	return typeMeta.Kind
}

// fuzzDecode decodes JSON into the kind's type with encoding/json, and keeps
// only input the API server could have sent: it decodes case-sensitively and
// never sends duplicate keys, while encoding/json folds case and merges
// duplicates, which would make a patch address members the JSON lacks.
func fuzzDecode(kind string, data []byte) (runtime.Object, bool) {
	obj, ok := newObject(kind)
	if !ok || json.Unmarshal(data, obj) != nil {
		return nil, false
	}
	exact, _ := newObject(kind)
	strict, err := sigsjson.UnmarshalStrict(data, exact, sigsjson.DisallowDuplicateFields)
	if err != nil || len(strict) > 0 || !reflect.DeepEqual(obj, exact) {
		return nil, false
	}
	return obj, true
}

// newObject returns an empty object of a kind in the table, or a Scale.
func newObject(kind string) (runtime.Object, bool) {
	if kind == ScaleGVK.Kind {
		return &autoscalingv1.Scale{}, true
	}
	for _, k := range Kinds() {
		if k.GVK.Kind == kind {
			return k.new(), true
		}
	}
	return nil, false
}

// fuzzReviews are the requests the API server can send about such objects.
func fuzzReviews(kind string, obj, old runtime.Object) []*Review {
	var reviews []*Review
	with := func(r *Review) {
		r.Kind = kind
		reviews = append(reviews, r)
	}
	if kind == "Scale" {
		for _, parent := range []string{"Deployment", "StatefulSet"} {
			r := update(old, obj)
			with(r)
			r.Kind, r.SubResource = parent, "scale"
		}
		return reviews
	}
	with(create(obj))
	with(by(replicaSetController, create(obj)))
	with(update(old, obj))
	for _, options := range []*metav1.DeleteOptions{nil, gracePeriod(0), propagation(metav1.DeletePropagationOrphan)} {
		with(deleteOf(obj, options))
	}
	with(by(kubelet, deleteOf(obj, gracePeriod(0))))
	return reviews
}

// checkEvaluation evaluates one review and checks every invariant of the answer.
func checkEvaluation(t *testing.T, engine *Engine, r *Review, data []byte) {
	t.Helper()
	findings := engine.Evaluate(r)
	if again := engine.Evaluate(r); !reflect.DeepEqual(again, findings) {
		t.Fatalf("%s %s: a second evaluation differs\nfirst:  %s\nsecond: %s", r.Operation, r.Kind, policytest.NormalJSON(t, findings), policytest.NormalJSON(t, again))
	}
	for _, f := range findings {
		if f.Rule != RuleExemption && !slices.Contains(ruleIDs(), f.Rule) {
			t.Errorf("finding of unknown rule %q", f.Rule)
		}
		if f.Object == "" || f.Message == "" {
			t.Errorf("finding without object or message: %+v", f)
		}
		if (f.Action == ActionPatch) != (len(f.Patch) > 0) {
			t.Errorf("a %s finding has %d patch operations: %+v", f.Action, len(f.Patch), f)
		}
		for _, op := range f.Patch {
			if op.Op != "add" && op.Op != "replace" {
				t.Errorf("patch operation %q; only add and replace are produced", op.Op)
			}
		}
	}

	if ops := patchOps(findings); len(ops) > 0 {
		if r.Object == nil {
			t.Fatalf("%s %s: patches without an object: %s", r.Operation, r.Kind, policytest.NormalJSON(t, ops))
		}
		out, err := applyPatch(data, ops)
		if err != nil {
			t.Fatalf("%s %s: %v\nto %s", r.Operation, r.Kind, err, data)
		}
		patched, ok := fuzzDecode(r.Kind, out)
		if !ok {
			t.Fatalf("%s %s: the patched object does not decode: %s", r.Operation, r.Kind, out)
		}
		again := *r
		again.Object = patched
		if ops := unsettledOps(findings, engine.Evaluate(&again)); len(ops) > 0 {
			t.Fatalf("%s %s: patched again with %s\nafter %s", r.Operation, r.Kind, policytest.NormalJSON(t, ops), out)
		}
	}
}
