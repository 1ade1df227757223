package webhook

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gracekeeper/gracekeeper/policies"
)

// answer is what a user notices of an admission response.
type answer struct {
	allowed bool
	// patch is the JSON Patch of a mutating answer.
	patch    string
	warnings []string
	// message is a denial's text.
	message string
}

func allowed(warnings ...string) answer {
	return answer{allowed: true, patch: "[]", warnings: warnings}
}

func patched(patch string, warnings ...string) answer {
	return answer{allowed: true, patch: patch, warnings: warnings}
}

func denied(message string) answer { return answer{message: message} }

func TestEveryRuleIsAnsweredInBothModes(t *testing.T) {
	const (
		prestopPatch = `[{"op":"add","path":"/spec/containers/0/lifecycle","value":{"preStop":{"sleep":{"seconds":5}}}},` +
			`{"op":"replace","path":"/spec/terminationGracePeriodSeconds","value":30}]`
		rolloutPatch = `[{"op":"replace","path":"/spec/strategy/rollingUpdate/maxUnavailable","value":0},` +
			`{"op":"replace","path":"/spec/revisionHistoryLimit","value":3}]`
		recreateDenial = `gracekeeper recreate-strategy: strategy Recreate stops every pod before new ones start. ` +
			`Use strategy RollingUpdate with maxUnavailable: 0, and "kubectl rollout restart deployment/web" to restart`
		onDeleteDenial = `gracekeeper update-strategy: updateStrategy OnDelete never rolls out a change: pods update only when deleted. ` +
			`Use updateStrategy RollingUpdate, and "kubectl rollout restart statefulset/db" to restart`
		scaleDenial = `gracekeeper scale-to-zero: scaling deployment/web from 3 to 0 replicas stops the service. ` +
			`To restart, use "kubectl rollout restart deployment/web". To scale it to zero on purpose, run ` +
			`"kubectl annotate deployment/web gracekeeper.io/exempt=scale-to-zero gracekeeper.io/exempt-reason=<why>", ` +
			`then "kubectl patch deployment/web -p '{"spec":{"replicas":0}}'"`
		statefulScaleDenial = `gracekeeper scale-to-zero: scaling statefulset/db from 2 to 0 replicas stops the service. ` +
			`To restart, use "kubectl rollout restart statefulset/db". To scale it to zero on purpose, run ` +
			`"kubectl annotate statefulset/db gracekeeper.io/exempt=scale-to-zero gracekeeper.io/exempt-reason=<why>", ` +
			`then "kubectl patch statefulset/db -p '{"spec":{"replicas":0}}'"`
		deleteDenial = `gracekeeper workload-delete: deleting deployment/web stops all 3 of its pods. ` +
			`To restart or update it, use "kubectl rollout restart deployment/web" or "kubectl apply". ` +
			`To decommission it, run "kubectl annotate deployment/web gracekeeper.io/exempt=workload-delete gracekeeper.io/exempt-reason=<why>", then delete it`
		daemonDeleteDenial = `gracekeeper workload-delete: deleting daemonset/agent stops all 2 of its pods. ` +
			`To restart or update it, use "kubectl rollout restart daemonset/agent" or "kubectl apply". ` +
			`To decommission it, run "kubectl annotate daemonset/agent gracekeeper.io/exempt=workload-delete gracekeeper.io/exempt-reason=<why>", then delete it`
		forceDenial = `gracekeeper force-delete: force-deleting running pod/web-7d9f8b6c5d-x2x4k (grace period 0) skips its preStop hook and drain. ` +
			`Use "kubectl rollout restart deployment/web", or delete it gracefully with "kubectl delete pod/web-7d9f8b6c5d-x2x4k". ` +
			`A pod stuck Terminating can still be force-deleted`
		podDeleteWarning = `pod-delete: to restart pods, use "kubectl rollout restart deployment/web" instead of deleting them`
		noProbe          = `readiness-probe: container "app" has no readinessProbe, so a rollout cannot wait for it to serve`
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
			enforce: patched(prestopPatch),
			audit: allowed(`gracekeeper [audit] prestop-hook: would add preStop sleep 5s to container "app"`,
				`gracekeeper [audit] termination-grace-period: would raise terminationGracePeriodSeconds from 10 to 30 (preStop 5s + shutdown 25s)`),
		},
		"A pod created without a readinessProbe is warned about": {
			paths:   "/mutate/",
			request: request{op: admissionv1.Create, resource: "pods", object: podWithoutProbeYAML},
			enforce: allowed("gracekeeper " + noProbe),
			audit:   allowed("gracekeeper [audit] " + noProbe),
		},
		"A deployment that lets every replica go down and keeps one revision is patched by the mutating webhook": {
			paths:   "/mutate/",
			request: request{op: admissionv1.Create, resource: "deployments", object: riskyDeploymentYAML},
			enforce: patched(rolloutPatch),
			audit: allowed(`gracekeeper [audit] rolling-update: would set maxUnavailable from 100% to 0 (maxSurge 25%) so a rollout keeps all 3 replicas up`,
				`gracekeeper [audit] revision-history: would raise revisionHistoryLimit from 1 to 3 so "kubectl rollout undo" keeps working`),
		},
		"The same deployment's pod template findings are reported once, by the validating webhook": {
			paths:   "/validate/",
			request: request{op: admissionv1.Create, resource: "deployments", object: riskyDeploymentYAML},
			enforce: allowed(`gracekeeper prestop-hook: will add preStop sleep 5s to container "app" in the pods of deployment/web`,
				"gracekeeper "+noProbe),
			audit: allowed(`gracekeeper [audit] prestop-hook: would add preStop sleep 5s to container "app" in the pods of deployment/web`,
				"gracekeeper [audit] "+noProbe),
		},
		"A graceful deployment is not patched": {
			paths:   "/mutate/",
			request: request{op: admissionv1.Create, resource: "deployments", object: deployment("", rollingStrategy)},
			enforce: allowed(),
			audit:   allowed(),
		},
		"A deployment created with strategy Recreate is denied": {
			paths:   "/validate/",
			request: request{op: admissionv1.Create, resource: "deployments", object: deployment("", recreateStrategy)},
			enforce: denied(recreateDenial),
			audit:   allowed(`gracekeeper [audit] recreate-strategy: would deny: strategy Recreate stops every pod before new ones start`),
		},
		"A deployment that already was Recreate is only warned about on update": {
			paths: "/validate/",
			request: request{op: admissionv1.Update, resource: "deployments",
				object: deployment("", recreateStrategy), oldObject: deployment("", recreateStrategy)},
			enforce: allowed(`gracekeeper recreate-strategy: strategy Recreate stops every pod before new ones start; switch to RollingUpdate with maxUnavailable: 0`),
			audit:   allowed(`gracekeeper [audit] recreate-strategy: strategy Recreate stops every pod before new ones start; switch to RollingUpdate with maxUnavailable: 0`),
		},
		"A statefulset created with updateStrategy OnDelete is denied": {
			paths:   "/validate/",
			request: request{op: admissionv1.Create, resource: "statefulsets", object: fmt.Sprintf(statefulSetYAML, 2, "OnDelete")},
			enforce: denied(onDeleteDenial),
			audit:   allowed(`gracekeeper [audit] update-strategy: would deny: updateStrategy OnDelete never rolls out a change: pods update only when deleted`),
		},
		"kubectl scale deployment/web --replicas=0 is denied through the scale subresource": {
			paths: "/validate/",
			request: request{op: admissionv1.Update, resource: "deployments/scale",
				object: fmt.Sprintf(scaleYAML, 0), oldObject: fmt.Sprintf(scaleYAML, 3)},
			enforce: denied(scaleDenial),
			audit:   allowed(`gracekeeper [audit] scale-to-zero: would deny: scaling deployment/web from 3 to 0 replicas stops the service`),
		},
		"A statefulset updated to 0 replicas is denied": {
			paths: "/validate/",
			request: request{op: admissionv1.Update, resource: "statefulsets",
				object: fmt.Sprintf(statefulSetYAML, 0, "RollingUpdate"), oldObject: fmt.Sprintf(statefulSetYAML, 2, "RollingUpdate")},
			enforce: denied(statefulScaleDenial),
			audit:   allowed(`gracekeeper [audit] scale-to-zero: would deny: scaling statefulset/db from 2 to 0 replicas stops the service`),
		},
		"Deleting a running deployment is denied": {
			paths:   "/validate/",
			request: request{op: admissionv1.Delete, resource: "deployments", oldObject: deployment("", rollingStrategy), options: backgroundDelete},
			enforce: denied(deleteDenial),
			audit:   allowed(`gracekeeper [audit] workload-delete: would deny: deleting deployment/web stops all 3 of its pods`),
		},
		"Deleting a running daemonset is denied": {
			paths:   "/validate/",
			request: request{op: admissionv1.Delete, resource: "daemonsets", oldObject: daemonSetYAML, options: backgroundDelete},
			enforce: denied(daemonDeleteDenial),
			audit:   allowed(`gracekeeper [audit] workload-delete: would deny: deleting daemonset/agent stops all 2 of its pods`),
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
			enforce: allowed(`gracekeeper exemption: gracekeeper.io/exempt=workload-delete has no gracekeeper.io/exempt-reason; add one to record why`),
			audit:   allowed(`gracekeeper [audit] exemption: gracekeeper.io/exempt=workload-delete has no gracekeeper.io/exempt-reason; add one to record why`),
		},
		"Deleting a pod by hand is warned about, naming the deployment to restart": {
			paths:   "/validate/",
			request: request{op: admissionv1.Delete, resource: "pods", oldObject: runningPodYAML, options: plainDelete},
			enforce: allowed("gracekeeper " + podDeleteWarning),
			audit:   allowed("gracekeeper [audit] " + podDeleteWarning),
		},
		"Force-deleting a running pod is denied": {
			paths:   "/validate/",
			request: request{op: admissionv1.Delete, resource: "pods", oldObject: runningPodYAML, options: forceDelete},
			enforce: denied(forceDenial),
			audit: allowed(`gracekeeper [audit] force-delete: would deny: force-deleting running pod/web-7d9f8b6c5d-x2x4k (grace period 0) skips its preStop hook and drain`,
				"gracekeeper [audit] "+podDeleteWarning),
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
				if !strings.HasPrefix(tt.paths, "/mutate/") {
					want.patch = "" // validating answers carry no patch
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
			want: answer{message: `gracekeeper mode-label: label gracekeeper.io/mode="enforec" is not a mode. ` +
				`Use enforce, audit or off, e.g. "kubectl label namespace shop gracekeeper.io/mode=audit --overwrite"`},
		},
		"A namespace labelled audit is allowed":   {label: "audit", want: answer{allowed: true}},
		"A namespace labelled off is allowed":     {label: "off", want: answer{allowed: true}},
		"A namespace labelled enforce is allowed": {label: "enforce", want: answer{allowed: true}},
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

// checkAnswer posts a request and compares the response with want. A patch
// is applied to the request's object, and the patched object sent again must
// need no patch: the API server may reinvoke the webhook.
func checkAnswer(t *testing.T, fx *fixture, path string, r request, want answer) {
	t.Helper()
	resp := fx.review(t, path, r)
	if resp.Allowed != want.allowed {
		t.Errorf("%s %s: allowed = %v, want %v (message %q)", r.op, path, resp.Allowed, want.allowed, message(resp))
	}
	if !slices.Equal(resp.Warnings, want.warnings) {
		t.Errorf("%s %s: warnings =\n%s\nwant\n%s", r.op, path, strings.Join(resp.Warnings, "\n"), strings.Join(want.warnings, "\n"))
	}
	if got := string(resp.Patch); got != want.patch {
		t.Errorf("%s %s: patch =\n%s\nwant\n%s", r.op, path, got, want.patch)
	}
	if want.patch != "" && (resp.PatchType == nil || *resp.PatchType != admissionv1.PatchTypeJSONPatch) {
		t.Errorf("%s %s: patchType = %v, want JSONPatch", r.op, path, resp.PatchType)
	}
	switch {
	case want.allowed && resp.Result != nil:
		t.Errorf("%s %s: an allowed answer has status %+v", r.op, path, resp.Result)
	case !want.allowed && resp.Result == nil:
		t.Errorf("%s %s: a denial has no status", r.op, path)
	case !want.allowed:
		if resp.Result.Code != http.StatusBadRequest || resp.Result.Status != metav1.StatusFailure {
			t.Errorf("%s %s: denial status = %d %q, want 400 Failure", r.op, path, resp.Result.Code, resp.Result.Status)
		}
		if resp.Result.Message != want.message {
			t.Errorf("%s %s: denial message =\n%s\nwant\n%s", r.op, path, resp.Result.Message, want.message)
		}
	}
	if want.patch == "" || want.patch == "[]" || string(resp.Patch) != want.patch {
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

func message(resp *admissionv1.AdmissionResponse) string {
	if resp.Result == nil {
		return ""
	}
	return resp.Result.Message
}
