package admission_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/gracekeeper/gracekeeper/policies"
	"github.com/gracekeeper/gracekeeper/policies/policytest"
	gkadmission "github.com/gracekeeper/gracekeeper/webhook/admission"
)

// noParents reads no parent: both decoders' reviews go to the same reads.
type noParents struct{}

func (noParents) Parent(context.Context, *policies.Review) (runtime.Object, error) { return nil, nil }
func (noParents) History(context.Context, *policies.Review) (*policies.History, error) {
	return nil, nil
}

// reviewers is a reviewer of every path, with the default configuration.
func reviewers(t testing.TB) []*gkadmission.Reviewer {
	t.Helper()
	engine := gkadmission.EngineWith(t, "")
	var out []*gkadmission.Reviewer
	for _, p := range gkadmission.Paths() {
		out = append(out, gkadmission.NewReviewer(p, engine, noParents{}, slog.New(slog.DiscardHandler)))
	}
	return out
}

// decodedOnce tells whether Reviewer.Decode decoded the objects itself.
func decodedOnce(review *admissionv1.AdmissionReview) bool {
	req := review.Request
	return req != nil && (req.Object.Object != nil || req.OldObject.Object != nil) && req.Object.Raw == nil && req.OldObject.Raw == nil
}

// sameAnswer checks that rv answers body alike whether Reviewer.Decode or
// DecodeAdmissionReview decoded it, or fails with the same error, and
// returns whether Reviewer.Decode decoded it in one pass.
func sameAnswer(t *testing.T, rv *gkadmission.Reviewer, body []byte) bool {
	t.Helper()
	once, onceErr := rv.Decode(body)
	twice, twiceErr := gkadmission.DecodeAdmissionReview(body)
	if (onceErr == nil) != (twiceErr == nil) || (onceErr != nil && onceErr.Error() != twiceErr.Error()) {
		t.Fatalf("%s: Decode says %v, DecodeAdmissionReview %v", rv.ID(), onceErr, twiceErr)
	}
	if onceErr != nil {
		return false
	}
	ctx := context.Background()
	a, b := rv.Review(ctx, once.Request), rv.Review(ctx, twice.Request)
	if !reflect.DeepEqual(a.Response, b.Response) || a.Unhandled != b.Unhandled || !reflect.DeepEqual(a.Review, b.Review) {
		ja, _ := json.Marshal(a.Response)
		jb, _ := json.Marshal(b.Response)
		t.Fatalf("%s: decoded in one pass, the answer is\n%s\nin two:\n%s", rv.ID(), ja, jb)
	}
	return decodedOnce(once)
}

// apiServerBody is r's review with its objects' kinds set, as the API
// server writes them.
func apiServerBody(t *testing.T, r diffRequest) []byte {
	t.Helper()
	kind := schema.GroupVersionKind(resources[r.resource].kind)
	for _, o := range []runtime.Object{r.object, r.oldObject} {
		if o != nil && !reflect.ValueOf(o).IsNil() {
			o.GetObjectKind().SetGroupVersionKind(kind)
		}
	}
	return reviewBody(t, r)
}

// TestDecodeOnceAnswersAsDecodingTwice holds the one-pass decoder to the
// two-pass one on the requests of every rule fixture and 400 generated
// ones, on every path: the same answer, the same review, the same error;
// and it must take the one pass for every request a path judges.
func TestDecodeOnceAnswersAsDecodingTwice(t *testing.T) {
	requests := append(fixtureRequests(t), generatedRequests(rand.New(rand.NewPCG(7, 11)), 400)...)
	judged, once := 0, 0
	for _, rv := range reviewers(t) {
		for _, r := range requests {
			body := apiServerBody(t, r)
			decoded := sameAnswer(t, rv, body)
			twice, err := gkadmission.DecodeAdmissionReview(body)
			if err != nil {
				t.Fatalf("%s: %v", r.name, err)
			}
			if rv.Review(context.Background(), twice.Request).Unhandled == "" {
				judged++
				if !decoded {
					t.Errorf("%s on %s: decoded in two passes, want one", r.name, rv.ID())
				}
			}
			if decoded {
				once++
			}
		}
	}
	if judged == 0 || once != judged {
		t.Fatalf("%d requests judged, %d decoded in one pass", judged, once)
	}
	t.Logf("%d requests judged, all decoded in one pass", judged)
}

// TestDecodeOnceFallsBackWhereItCannotTellAlike covers the bodies the one
// pass leaves to DecodeAdmissionReview, and those it reads although they
// are unusual: each is answered as decoding twice answers it.
func TestDecodeOnceFallsBackWhereItCannotTellAlike(t *testing.T) {
	reviews, err := policytest.NewReviews()
	if err != nil {
		t.Fatal(err)
	}
	pod, deployment := reviews.PodCreate, reviews.DeploymentUpdate
	replace := func(body []byte, old, new string) []byte {
		t.Helper()
		if !bytes.Contains(body, []byte(old)) {
			t.Fatalf("no %s in the review", old)
		}
		return bytes.Replace(body, []byte(old), []byte(new), 1)
	}
	cases := []struct {
		name string
		body []byte
		once bool
	}{
		{"a typical Pod CREATE", pod, true},
		{"a typical Deployment UPDATE", deployment, true},
		{"a field of the object the compiled API does not know", replace(pod, `"spec":{`, `"spec":{"futureField":{"a":1},`), true},
		{"a field of the object that differs only in case from a review's", replace(pod, `"spec":{`, `"spec":{"Request":1,`), false},
		{"an envelope key that reads as a field of the object", replace(pod, `"dryRun":false`, `"dryRun":false,"object.Operation":"DELETE"`), false},
		{"100 unknown fields of the object, then an envelope field given twice",
			replace(replace(pod, `"spec":{`, `"spec":{`+unknownFields(100)), `"dryRun":false`, `"dryRun":false,"dryRun":true`), false},
		{"100 unknown fields of the object, then an envelope field spelled in another case",
			replace(replace(pod, `"spec":{`, `"spec":{`+unknownFields(100)), `"dryRun":false`, `"dryRun":false,"Operation":"DELETE"`), false},
		{"100 unknown fields, then the object given twice",
			replace(replace(pod, `"request":{`, `"request":{`+unknownFields(100)), `,"oldObject":null`, `,"object":{"kind":"Pod","apiVersion":"v1"},"oldObject":null`), false},
		{"100 unknown fields, then the object given as null and as a map",
			replace(replace(pod, `"request":{`, `"request":{`+unknownFields(100)), `,"oldObject":null`, `,"oldObject":null,"object":null,"object":{"a":1}`), false},
		{"a field given twice in the object", replace(pod, `"spec":{`, `"spec":{"restartPolicy":"Never",`), false},
		{"a field of the envelope that differs only in case", replace(pod, `"request":{`, `"request":{"Object":null,`), false},
		{"an unknown field of the envelope", replace(pod, `"request":{`, `"request":{"futureField":1,`), true},
		{"an object naming no kind", replace(pod, `"object":{"kind":"Pod","apiVersion":"v1",`, `"object":{`), false},
		{"an object of another kind", replace(pod, `"object":{"kind":"Pod","apiVersion":"v1",`, `"object":{"kind":"Scale","apiVersion":"autoscaling/v1",`), false},
		{"an object that is not an object", replace(pod, `"object":{`, `"object":["not",{`), false},
		{"a CREATE without its object", replace(pod, `"object":{`, `"notTheObject":{`), false},
		{"the objects before the kind", replace(pod, `"uid":`, `"object":null,"uid":`), false},
		{"an object key in the user's extra", replace(pod, `"userInfo":{`, `"userInfo":{"extra":{"a":["b"],"object":["c"]},`), false},
		{"a kind the path does not judge", replace(pod, `"kind":{"group":"","version":"v1","kind":"Pod"}`, `"kind":{"group":"","version":"v1","kind":"ConfigMap"}`), false},
		{"not JSON", []byte(`{"kind":"AdmissionReview","request":{"kind":`), false},
		{"another kind of review", replace(pod, `"apiVersion":"admission.k8s.io/v1"`, `"apiVersion":"admission.k8s.io/v1beta1"`), false},
	}
	var mutate *gkadmission.Reviewer
	for _, rv := range reviewers(t) {
		if rv.ID() == "mutate-enforce" {
			mutate = rv
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := sameAnswer(t, mutate, c.body); got != c.once {
				t.Errorf("decoded in one pass: %v, want %v", got, c.once)
			}
		})
	}
}

// unknownFields is n distinct fields no type has, each a strict error.
func unknownFields(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, `"unknown%d":1,`, i)
	}
	return b.String()
}

// TestDecodeAdmissionReviewRefusesFieldsPastTheStrictCap: past the strict
// errors sigs.k8s.io/json keeps, a field spelled in another case would go
// unseen.
func TestDecodeAdmissionReviewRefusesFieldsPastTheStrictCap(t *testing.T) {
	reviews, err := policytest.NewReviews()
	if err != nil {
		t.Fatal(err)
	}
	body := bytes.Replace(reviews.PodCreate, []byte(`"request":{`), []byte(`"request":{`+unknownFields(100)+`"Operation":"DELETE",`), 1)
	_, err = gkadmission.DecodeAdmissionReview(body)
	if err == nil || !strings.Contains(err.Error(), "100 or more unknown or duplicate fields") {
		t.Fatalf("DecodeAdmissionReview of a body with 100 unknown fields, then one spelled in another case, = %v, want it refused", err)
	}
	body = bytes.Replace(reviews.PodCreate, []byte(`"request":{`), []byte(`"request":{`+unknownFields(99)), 1)
	if _, err := gkadmission.DecodeAdmissionReview(body); err != nil {
		t.Fatalf("DecodeAdmissionReview of a body with 99 unknown fields = %v, want it read", err)
	}
}

// FuzzDecodeOnce holds the one-pass decoder to the two-pass one on any
// body: the same answer on every path, or the same error.
func FuzzDecodeOnce(f *testing.F) {
	reviews, err := policytest.NewReviews()
	if err != nil {
		f.Fatal(err)
	}
	for _, body := range [][]byte{reviews.PodCreate, reviews.DeploymentUpdate} {
		f.Add(body)
		f.Add(bytes.ReplaceAll(body, []byte(`"kind":"Pod"`), []byte(`"kind":"Deployment"`)))
		// Keys given twice, and a key that reads as an object's field.
		f.Add(bytes.Replace(body, []byte(`"request":{`), []byte(`"request":{"object":null,"object":{"a":1},"object.Operation":1,`), 1))
	}
	all := reviewers(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		if strings.Count(string(body), "{") > 2000 {
			t.Skip("past what a fuzzed body needs")
		}
		for _, rv := range all {
			sameAnswer(t, rv, body)
		}
	})
}

// TestDecodeOnceReadsRolloutsAsDecodingTwice: an Argo Rollout is read into
// gracekeeper's partial Rollout type, its canary steps and status unknown
// fields; its /scale carries a Scale.
func TestDecodeOnceReadsRolloutsAsDecodingTwice(t *testing.T) {
	rollout := func(replicas string) string {
		return `{"apiVersion":"argoproj.io/v1alpha1","kind":"Rollout","metadata":{"name":"r","namespace":"shop"},"spec":{"replicas":` + replicas +
			`,"revisionHistoryLimit":0,"strategy":{"canary":{"maxSurge":"25%","maxUnavailable":1,"steps":[{"setWeight":20},{"pause":{}}]}},` +
			`"selector":{"matchLabels":{"app":"r"}},"template":{"metadata":{"labels":{"app":"r"}},"spec":{"containers":[{"name":"a","image":"b"}]}}},"status":{"phase":"Healthy","replicas":3}}`
	}
	scale := func(replicas string) string {
		return `{"kind":"Scale","apiVersion":"autoscaling/v1","metadata":{"name":"r","namespace":"shop"},"spec":{"replicas":` + replicas + `}}`
	}
	request := func(kind, sub, op, object, oldObject string) []byte {
		return []byte(`{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":"u1",` + kind +
			`,"resource":{"group":"argoproj.io","version":"v1alpha1","resource":"rollouts"}` + sub + `,"name":"r","namespace":"shop","operation":"` + op +
			`","userInfo":{"username":"alice"},"object":` + object + `,"oldObject":` + oldObject + `}}`)
	}
	rolloutKind := `"kind":{"group":"argoproj.io","version":"v1alpha1","kind":"Rollout"}`
	scaleKind := `"kind":{"group":"autoscaling","version":"v1","kind":"Scale"}`
	bodies := map[string][]byte{
		"CREATE":          request(rolloutKind, "", "CREATE", rollout("3"), "null"),
		"UPDATE":          request(rolloutKind, "", "UPDATE", rollout("0"), rollout("3")),
		"DELETE":          request(rolloutKind, "", "DELETE", "null", rollout("3")),
		"scale to 0":      request(scaleKind, `,"subResource":"scale"`, "UPDATE", scale("0"), scale("3")),
		"CREATE with old": request(rolloutKind, "", "CREATE", rollout("3"), rollout("5")),
	}
	once := 0
	for name, body := range bodies {
		for _, rv := range reviewers(t) {
			t.Run(name+" "+rv.ID(), func(t *testing.T) {
				if sameAnswer(t, rv, body) {
					once++
				}
			})
		}
	}
	if once == 0 {
		t.Error("no Rollout review was decoded in one pass")
	}
}
