package webhook

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/gracekeeper/gracekeeper/policies"
	"github.com/gracekeeper/gracekeeper/policies/policytest"
)

// answer is what a user notices of an admission response: whether it is
// allowed, what its patch changes, and the rules its warnings or its denial
// name. The rules' sentences are pinned once, by the policies goldens.
type answer struct {
	allowed bool
	// patch is a mutating answer's JSON Patch, each operation as "op path".
	patch []string
	// warned are the rules the warnings name, in order.
	warned []policies.RuleID
	// denied are the rules a denial names, in order.
	denied []policies.RuleID
}

func allowed(warned ...policies.RuleID) answer {
	return answer{allowed: true, warned: warned}
}

func patched(patch ...string) answer { return answer{allowed: true, patch: patch} }

func denied(rules ...policies.RuleID) answer { return answer{denied: rules} }

func TestEveryRuleIsAnsweredInBothModes(t *testing.T) {
	var (
		prestopPatch = patched("add /spec/containers/0/lifecycle", "replace /spec/terminationGracePeriodSeconds")
		rolloutPatch = patched("replace /spec/strategy/rollingUpdate/maxUnavailable", "replace /spec/revisionHistoryLimit", "add /metadata/annotations")
	)
	deployment := func(annotations, strategy string) string {
		return fmt.Sprintf(deploymentYAML, annotations, strategy)
	}
	tests := map[string]struct {
		// paths is "/mutate/" or "/validate/"; the mode is appended.
		paths          string
		request        request
		enforce, audit answer
	}{
		"A pod created without a preStop hook gets one, and a grace period long enough for it": {
			paths:   "/mutate/",
			request: request{op: admissionv1.Create, resource: "pods", object: podYAML},
			enforce: prestopPatch,
			audit:   allowed(policies.RulePreStopHook, policies.RuleTerminationGracePeriod),
		},
		"A pod created without a readinessProbe is warned about": {
			paths:   "/mutate/",
			request: request{op: admissionv1.Create, resource: "pods", object: podWithoutProbeYAML},
			enforce: allowed(policies.RuleReadinessProbe),
			audit:   allowed(policies.RuleReadinessProbe),
		},
		"A deployment that lets every replica go down and keeps one revision is patched by the mutating webhook": {
			paths:   "/mutate/",
			request: request{op: admissionv1.Create, resource: "deployments", object: riskyDeploymentYAML},
			enforce: rolloutPatch,
			audit:   allowed(policies.RuleRollingUpdate, policies.RuleRevisionHistory, policies.RuleChangeCause),
		},
		"The same deployment's pod template findings are reported once, by the validating webhook": {
			paths:   "/validate/",
			request: request{op: admissionv1.Create, resource: "deployments", object: riskyDeploymentYAML},
			enforce: allowed(policies.RulePreStopHook, policies.RuleReadinessProbe),
			audit:   allowed(policies.RulePreStopHook, policies.RuleReadinessProbe),
		},
		"A graceful deployment is not patched, but for the change-cause its creation records": {
			paths:   "/mutate/",
			request: request{op: admissionv1.Create, resource: "deployments", object: deployment("", rollingStrategy)},
			enforce: patched("add /metadata/annotations/kubernetes.io~1change-cause"),
			audit:   allowed(policies.RuleChangeCause),
		},
		"A deployment created with strategy Recreate is denied": {
			paths:   "/validate/",
			request: request{op: admissionv1.Create, resource: "deployments", object: deployment("", recreateStrategy)},
			enforce: denied(policies.RuleRecreateStrategy),
			audit:   allowed(policies.RuleRecreateStrategy),
		},
		"A deployment that already was Recreate is only warned about on update": {
			paths: "/validate/",
			request: request{op: admissionv1.Update, resource: "deployments",
				object: deployment("", recreateStrategy), oldObject: deployment("", recreateStrategy)},
			enforce: allowed(policies.RuleRecreateStrategy),
			audit:   allowed(policies.RuleRecreateStrategy),
		},
		"A statefulset created with updateStrategy OnDelete is denied": {
			paths:   "/validate/",
			request: request{op: admissionv1.Create, resource: "statefulsets", object: fmt.Sprintf(statefulSetYAML, 2, "OnDelete")},
			enforce: denied(policies.RuleUpdateStrategy),
			audit:   allowed(policies.RuleUpdateStrategy),
		},
		"kubectl scale deployment/web --replicas=0 is denied through the scale subresource": {
			paths: "/validate/",
			request: request{op: admissionv1.Update, resource: "deployments/scale",
				object: fmt.Sprintf(scaleYAML, 0), oldObject: fmt.Sprintf(scaleYAML, 3)},
			enforce: denied(policies.RuleScaleToZero),
			audit:   allowed(policies.RuleScaleToZero),
		},
		"A statefulset updated to 0 replicas is denied": {
			paths: "/validate/",
			request: request{op: admissionv1.Update, resource: "statefulsets",
				object: fmt.Sprintf(statefulSetYAML, 0, "RollingUpdate"), oldObject: fmt.Sprintf(statefulSetYAML, 2, "RollingUpdate")},
			enforce: denied(policies.RuleScaleToZero),
			audit:   allowed(policies.RuleScaleToZero),
		},
		"An Argo Rollout canary that takes every pod down is patched by the mutating webhook, at the canary's path": {
			paths:   "/mutate/",
			request: request{op: admissionv1.Create, resource: "rollouts", object: fmt.Sprintf(rolloutYAML, 3, "100%")},
			enforce: patched("replace /spec/strategy/canary/maxUnavailable", "replace /spec/strategy/canary/maxSurge"),
			audit:   allowed(policies.RuleRollingUpdate),
		},
		"kubectl scale rollout/web --replicas=0 is denied through the Rollout CRD's scale subresource": {
			paths: "/validate/",
			request: request{op: admissionv1.Update, resource: "rollouts/scale",
				object: fmt.Sprintf(scaleYAML, 0), oldObject: fmt.Sprintf(scaleYAML, 3)},
			enforce: denied(policies.RuleScaleToZero),
			audit:   allowed(policies.RuleScaleToZero),
		},
		"Deleting a running Argo Rollout is denied": {
			paths:   "/validate/",
			request: request{op: admissionv1.Delete, resource: "rollouts", oldObject: fmt.Sprintf(rolloutYAML, 3, "25%"), options: backgroundDelete},
			enforce: denied(policies.RuleWorkloadDelete),
			audit:   allowed(policies.RuleWorkloadDelete),
		},
		"Deleting a namespace in enforce mode is denied": {
			paths:   "/validate/",
			request: request{op: admissionv1.Delete, resource: "namespaces", oldObject: fmt.Sprintf(namespaceYAML, "enforce"), options: backgroundDelete},
			enforce: denied(policies.RuleWorkloadDelete),
			audit:   allowed(policies.RuleWorkloadDelete),
		},
		"kubectl scale rs --replicas=0 is denied through the scale subresource": {
			paths: "/validate/",
			request: request{op: admissionv1.Update, resource: "replicasets/scale",
				object: fmt.Sprintf(scaleYAML, 0), oldObject: fmt.Sprintf(scaleYAML, 3)},
			enforce: denied(policies.RuleScaleToZero),
			audit:   allowed(policies.RuleScaleToZero),
		},
		"Deleting a running deployment is denied": {
			paths:   "/validate/",
			request: request{op: admissionv1.Delete, resource: "deployments", oldObject: deployment("", rollingStrategy), options: backgroundDelete},
			enforce: denied(policies.RuleWorkloadDelete),
			audit:   allowed(policies.RuleWorkloadDelete),
		},
		"Deleting a running daemonset is denied": {
			paths:   "/validate/",
			request: request{op: admissionv1.Delete, resource: "daemonsets", oldObject: daemonSetYAML, options: backgroundDelete},
			enforce: denied(policies.RuleWorkloadDelete),
			audit:   allowed(policies.RuleWorkloadDelete),
		},
		"Deleting a deployment with --cascade=orphan keeps its pods and is allowed": {
			paths:   "/validate/",
			request: request{op: admissionv1.Delete, resource: "deployments", oldObject: deployment("", rollingStrategy), options: orphanDelete},
			enforce: allowed(),
			audit:   allowed(),
		},
		"Deleting a deployment exempted without a reason is allowed with a warning": {
			paths: "/validate/",
			request: request{op: admissionv1.Delete, resource: "deployments",
				oldObject: deployment("gracekeeper.io/exempt: workload-delete", rollingStrategy), options: backgroundDelete},
			enforce: allowed(policies.RuleExemption),
			audit:   allowed(policies.RuleExemption),
		},
		"Deleting a pod by hand is warned about, naming the deployment to restart": {
			paths:   "/validate/",
			request: request{op: admissionv1.Delete, resource: "pods", oldObject: runningPodYAML, options: plainDelete},
			enforce: allowed(policies.RulePodDelete),
			audit:   allowed(policies.RulePodDelete),
		},
		"Force-deleting a running pod is denied": {
			paths:   "/validate/",
			request: request{op: admissionv1.Delete, resource: "pods", oldObject: runningPodYAML, options: forceDelete},
			enforce: denied(policies.RuleForceDelete),
			audit:   allowed(policies.RuleForceDelete, policies.RulePodDelete),
		},
		"The kubelet's final force delete of a pod is allowed silently": {
			paths: "/validate/",
			request: request{op: admissionv1.Delete, resource: "pods", oldObject: runningPodYAML, options: forceDelete,
				user: "system:node:node-1", groups: []string{"system:nodes", "system:authenticated"}},
			enforce: allowed(),
			audit:   allowed(),
		},
	}
	fx := newFixture(t, "")
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			for _, mode := range []policies.Mode{policies.ModeEnforce, policies.ModeAudit} {
				want := tt.enforce
				if mode == policies.ModeAudit {
					want = tt.audit
				}
				checkAnswer(t, fx, tt.paths+string(mode), tt.request, want)
			}
		})
	}
}

func TestTheModeLabelIsCheckedOnItsOwnPath(t *testing.T) {
	tests := map[string]struct {
		label string
		want  answer
	}{
		"A namespace labelled with a typo is denied, since no webhook entry would match it": {
			label: "enforec",
			want:  denied(policies.RuleModeLabel),
		},
		"A namespace labelled audit is allowed":   {label: "audit", want: allowed()},
		"A namespace labelled off is allowed":     {label: "off", want: allowed()},
		"A namespace labelled enforce is allowed": {label: "enforce", want: allowed()},
	}
	fx := newFixture(t, "")
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			for _, op := range []admissionv1.Operation{admissionv1.Create, admissionv1.Update} {
				r := request{op: op, resource: "namespaces", object: fmt.Sprintf(namespaceYAML, tt.label)}
				if op == admissionv1.Update {
					r.oldObject = fmt.Sprintf(namespaceYAML, "audit")
				}
				checkAnswer(t, fx, PathValidateNamespaces, r, tt.want)
			}
		})
	}
}

// checkAnswer posts a request and compares the response with want. A
// mutating answer always carries a JSON Patch, a validating one none; every
// warning is marked [audit] on an audit path and only there. A patch is
// applied to the request's object, and the patched object sent again must
// need no patch: the API server may reinvoke the webhook.
func checkAnswer(t *testing.T, fx *fixture, path string, r request, want answer) {
	t.Helper()
	resp := fx.review(t, path, r)
	if resp.Allowed != want.allowed {
		t.Errorf("%s %s: allowed = %v, want %v (message %q)", r.op, path, resp.Allowed, want.allowed, message(resp))
	}
	mode := policies.ModeEnforce
	if strings.HasSuffix(path, "/"+string(policies.ModeAudit)) {
		mode = policies.ModeAudit
	}
	var warned []policies.RuleID
	for _, w := range resp.Warnings {
		rule, wMode, ok := namedRule(w)
		if !ok || wMode != mode {
			t.Errorf("%s %s: warning %q does not name a rule in %s mode", r.op, path, w, mode)
		}
		warned = append(warned, rule)
	}
	if !slices.Equal(warned, want.warned) {
		t.Errorf("%s %s: warnings name %v, want %v:\n%s", r.op, path, warned, want.warned, strings.Join(resp.Warnings, "\n"))
	}
	checkPatch(t, path, r, resp, want.patch)
	switch {
	case want.allowed && resp.Result != nil:
		t.Errorf("%s %s: an allowed answer has status %+v", r.op, path, resp.Result)
	case !want.allowed && resp.Result == nil:
		t.Errorf("%s %s: a denial has no status", r.op, path)
	case !want.allowed:
		if resp.Result.Code != http.StatusBadRequest || resp.Result.Status != metav1.StatusFailure {
			t.Errorf("%s %s: denial status = %d %q, want 400 Failure", r.op, path, resp.Result.Code, resp.Result.Status)
		}
		if got := deniedRules(resp.Result.Message); !slices.Equal(got, want.denied) {
			t.Errorf("%s %s: denial names %v, want %v:\n%s", r.op, path, got, want.denied, resp.Result.Message)
		}
	}
	if len(want.patch) == 0 || t.Failed() {
		return
	}
	patch, err := jsonpatch.DecodePatch(resp.Patch)
	if err != nil {
		t.Fatalf("%s: patch is not a JSON Patch: %v", path, err)
	}
	object, err := patch.Apply(toJSON(t, r.object))
	if err != nil {
		t.Fatalf("%s: patch does not apply to the request's object: %v", path, err)
	}
	again := r
	again.object = string(object)
	if resp := fx.review(t, path, again); string(resp.Patch) != "[]" {
		t.Errorf("%s: the patched object gets another patch %s: the mutation is not idempotent", path, resp.Patch)
	}
}

// checkPatch compares a response's JSON Patch, as "op path" lines, with
// want: a mutating answer carries a JSON Patch, "[]" when nothing changes,
// and a validating one none.
func checkPatch(t *testing.T, path string, r request, resp *admissionv1.AdmissionResponse, want []string) {
	t.Helper()
	if !strings.HasPrefix(path, "/mutate/") {
		if len(resp.Patch) != 0 || len(want) != 0 {
			t.Errorf("%s %s: patch = %s, want none from a validating webhook (test wants %v)", r.op, path, resp.Patch, want)
		}
		return
	}
	if resp.PatchType == nil || *resp.PatchType != admissionv1.PatchTypeJSONPatch {
		t.Errorf("%s %s: patchType = %v, want JSONPatch", r.op, path, resp.PatchType)
	}
	var ops []struct{ Op, Path string }
	if err := json.Unmarshal(resp.Patch, &ops); err != nil {
		t.Fatalf("%s %s: patch %s is not a JSON Patch: %v", r.op, path, resp.Patch, err)
	}
	got := []string{}
	for _, op := range ops {
		got = append(got, op.Op+" "+op.Path)
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s %s: patch changes %q, want %q:\n%s", r.op, path, got, want, resp.Patch)
	}
}

// ruleMessage is how a warning or a denial names its rule: "gracekeeper
// prestop-hook: ..." and, in audit mode, "gracekeeper [audit] prestop-hook: ...".
var ruleMessage = regexp.MustCompile(`gracekeeper (\[audit\] )?([a-z]+(?:-[a-z]+)*): \S`)

// namedRule returns the rule and the mode a warning names.
func namedRule(warning string) (policies.RuleID, policies.Mode, bool) {
	m := ruleMessage.FindStringSubmatchIndex(warning)
	if m == nil || m[0] != 0 {
		return "", "", false
	}
	mode := policies.ModeEnforce
	if m[2] >= 0 {
		mode = policies.ModeAudit
	}
	return policies.RuleID(warning[m[4]:m[5]]), mode, true
}

// deniedRules returns the rules a denial names, each denial "gracekeeper
// rule: ...", joined by "; ".
func deniedRules(message string) []policies.RuleID {
	var rules []policies.RuleID
	for _, m := range ruleMessage.FindAllStringSubmatch(message, -1) {
		if m[1] == "" {
			rules = append(rules, policies.RuleID(m[2]))
		}
	}
	return rules
}

func message(resp *admissionv1.AdmissionResponse) string {
	if resp.Result == nil {
		return ""
	}
	return resp.Result.Message
}

func TestAReviewPastTheContainerBoundIsAnsweredAsTheFailurePolicyWould(t *testing.T) {
	tests := map[string]struct {
		kind       string
		containers int
		path       string
		allowed    bool
		says       string
	}{
		"A Pod of one container too many is allowed unchanged, with a warning.": {
			kind: "Pod", containers: policies.MaxContainers + 1, path: PathMutateEnforce, allowed: true,
			says: fmt.Sprintf("not mutated, no preStop hook or grace period added: pod/heavy has %d containers", policies.MaxContainers+1)},
		"The largest Pod the API server accepts is allowed unchanged, with a warning.": {
			kind: "Pod", containers: policytest.LargestPodContainers, path: PathMutateEnforce, allowed: true,
			says: "pod/heavy has 178000 containers, more than the 1000"},
		"A Deployment of 16,000 containers is denied by the enforce guards.": {
			kind: "Deployment", containers: 16_000, path: PathValidateEnforce, allowed: false,
			says: "gracekeeper: denied unchecked, as failurePolicy Fail would: deployment/heavy has 16000 containers"},
		"A Deployment of 16,000 containers is not mutated.": {
			kind: "Deployment", containers: 16_000, path: PathMutateEnforce, allowed: true,
			says: "not mutated"},
		"A Deployment of 16,000 containers in audit is only warned about.": {
			kind: "Deployment", containers: 16_000, path: PathValidateAudit, allowed: true,
			says: "gracekeeper [audit] not checked: deployment/heavy has 16000 containers"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			fx := newFixture(t, "")
			body, err := policytest.ContainerHeavyReview(tt.kind, tt.containers)
			if err != nil {
				t.Fatal(err)
			}
			rec := fx.post(tt.path, body)
			var answer admissionv1.AdmissionReview
			if err := json.Unmarshal(rec.Body.Bytes(), &answer); err != nil || rec.Code != http.StatusOK || answer.Response == nil {
				t.Fatalf("POST %s = %d %.300s, want 200 with an AdmissionReview", tt.path, rec.Code, rec.Body.String())
			}
			resp := answer.Response
			said := strings.Join(resp.Warnings, "\n")
			if resp.Result != nil {
				said += resp.Result.Message
			}
			if resp.Allowed != tt.allowed || !strings.Contains(said, tt.says) {
				t.Errorf("allowed %v saying %q, want allowed %v saying %q", resp.Allowed, said, tt.allowed, tt.says)
			}
			if resp.Allowed && tt.path == PathMutateEnforce && string(resp.Patch) != "[]" {
				t.Errorf("patch %.200s, want none", resp.Patch)
			}
			webhook := strings.ReplaceAll(strings.TrimPrefix(tt.path, "/"), "/", "-")
			if got := fx.counter(t, "gracekeeper_review_limits_total", "webhook", webhook, "limit", "containers"); got != 1 {
				t.Errorf("gracekeeper_review_limits_total{webhook=%q,limit=containers} = %v, want 1", webhook, got)
			}
			logged := false
			for _, line := range fx.logLines(t) {
				logged = logged || (line["msg"] == "answered a review past a bound as the failure policy would, without judging it" && line["count"] == float64(tt.containers))
			}
			if !logged {
				t.Errorf("no log line says the review was past the bound:\n%s", fx.logs.String())
			}
		})
	}
}

func TestAReviewLargerThanTheBodyLimitIsAnsweredFromItsFirstBytes(t *testing.T) {
	// The API server sends objects after defaulting: containers grow, and
	// a review may pass maxBodyBytes though its request was under 3 MiB.
	const containers = 400_000
	for _, tt := range []struct {
		kind, path string
		allowed    bool
		says       string
	}{
		{"Pod", PathMutateEnforce, true, "gracekeeper not mutated, no preStop hook or grace period added: pod/heavy has "},
		{"Deployment", PathValidateEnforce, false, "gracekeeper: denied unchecked, as failurePolicy Fail would: deployment/heavy has "},
	} {
		t.Run(tt.kind, func(t *testing.T) {
			fx := newFixture(t, "")
			body, err := policytest.ContainerHeavyReview(tt.kind, containers)
			if err != nil {
				t.Fatal(err)
			}
			if len(body) <= int(maxBodyBytes) {
				t.Fatalf("the review is %d bytes, want more than %d", len(body), maxBodyBytes)
			}
			rec := fx.post(tt.path, body)
			var answer admissionv1.AdmissionReview
			if err := json.Unmarshal(rec.Body.Bytes(), &answer); err != nil || rec.Code != http.StatusOK || answer.Response == nil {
				t.Fatalf("POST %s = %d %.300s, want 200 with an AdmissionReview", tt.path, rec.Code, rec.Body.String())
			}
			resp := answer.Response
			said := strings.Join(resp.Warnings, "\n")
			if resp.Result != nil {
				said += resp.Result.Message
			}
			want := fmt.Sprintf("%s%d bytes, more than the %d", tt.says, len(body), maxBodyBytes)
			if resp.UID != "3f6c1b2a-CREATE-4c5d-8e9f-"+types.UID(strings.ToLower(tt.kind))+"s" || resp.Allowed != tt.allowed || !strings.Contains(said, want) {
				t.Errorf("uid %q allowed %v saying %q, want the request's uid, allowed %v saying %q", resp.UID, resp.Allowed, said, tt.allowed, want)
			}
			if tt.allowed && string(resp.Patch) != "[]" {
				t.Errorf("patch %s, want none", resp.Patch)
			}
			webhook := strings.ReplaceAll(strings.TrimPrefix(tt.path, "/"), "/", "-")
			if got := fx.counter(t, "gracekeeper_review_limits_total", "webhook", webhook, "limit", "bytes"); got != 1 {
				t.Errorf("gracekeeper_review_limits_total{limit=bytes} = %v, want 1", got)
			}
		})
	}
	t.Run("A body over the limit that does not start with a request is refused 413.", func(t *testing.T) {
		fx := newFixture(t, "")
		rec := fx.post(PathMutateEnforce, bytes.Repeat([]byte(" "), int(maxBodyBytes)+1))
		if rec.Code != http.StatusRequestEntityTooLarge {
			t.Errorf("answer %d, want 413", rec.Code)
		}
	})
}

func TestReadHeadFindsTheRequestWhereverTheBodyIsCut(t *testing.T) {
	body := []byte(`{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":"u1","kind":{"group":"apps","version":"v1","kind":"Deployment"},` +
		`"resource":{"group":"apps","version":"v1","resource":"deployments"},"requestKind":{"kind":"Other"},"name":"web","namespace":"shop","operation":"CREATE",` +
		`"userInfo":{"username":"x","groups":["a","b"]},"object":{"metadata":{"name":"not-this"}}}}`)
	if got := readHead(body); got != (requestHead{uid: "u1", kind: "Deployment", name: "web"}) {
		t.Errorf("readHead = %+v", got)
	}
	if got := readHead(body[:40]); got.uid != "" {
		t.Errorf("readHead of the first 40 bytes = %+v, want nothing", got)
	}
	if got := readHead(body[:100]); got.uid != "u1" {
		t.Errorf("readHead cut after the uid = %+v, want the uid", got)
	}
}
