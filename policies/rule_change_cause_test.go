package policies

import (
	"encoding/json"
	"maps"
	"strings"
	"testing"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
)

// nginxCreated is what `kubectl create deployment nginx --image=nginx:1.18` by alice records.
var nginxCreated = changeCauseSet(false, "created with image nginx=nginx:1.18 by alice@example.com")

// changeCauseSet is change-cause's finding on deployment/nginx: present says
// whether the object already has annotations.
func changeCauseSet(present bool, line string) Finding {
	return changeCauseOn("deployment/nginx", present, false, line)
}

// changeCauseOn is change-cause's finding on object: annotations says whether
// the object has any, replaced whether it has a change-cause already.
func changeCauseOn(object string, annotations, replaced bool, line string) Finding {
	value, _ := json.Marshal(line)
	f := Finding{Rule: RuleChangeCause, Action: ActionPatch, Object: object,
		Message: "set kubernetes.io/change-cause to " + string(value)}
	switch {
	case replaced:
		f.Patch = []PatchOp{op("replace", "/metadata/annotations/kubernetes.io~1change-cause", string(value))}
	case annotations:
		f.Patch = []PatchOp{op("add", "/metadata/annotations/kubernetes.io~1change-cause", string(value))}
	default:
		f.Patch = []PatchOp{op("add", "/metadata/annotations", `{"kubernetes.io/change-cause": `+string(value)+`}`)}
	}
	return f
}

// via is the review as sent with a field manager.
func via(manager string, r *Review) *Review {
	r.FieldManager = manager
	return r
}

// withHistory is the review with the workload's revisions read.
func withHistory(r *Review, revisions ...Revision) *Review {
	r.History = &History{Revisions: revisions}
	return r
}

func revisionOf(t *testing.T, n int64, template *corev1.PodTemplateSpec, changeCause string) Revision {
	t.Helper()
	rev := Revision{Number: n, Template: *template.DeepCopy(), ChangeCause: changeCause}
	rev.Template.Labels["pod-template-hash"] = "5d59d67564"
	return rev
}

func TestChangeCause(t *testing.T) {
	const (
		image120  = `{spec: {template: {spec: {containers: [{name: nginx, image: nginx:1.20.1}]}}}}`
		restarted = `{spec: {template: {metadata: {annotations: {kubectl.kubernetes.io/restartedAt: "2026-12-06T21:30:00Z"}}}}}`
		recorded  = `{metadata: {annotations: {kubernetes.io/change-cause: "created with image nginx=nginx:1.18 by alice@example.com via kubectl-create"}}}`
	)
	v118 := deployment(t)
	v120 := deployment(t, image120)
	v120restarted := deployment(t, image120, restarted)
	argoCD := UserInfo{Username: "system:serviceaccount:argocd:argocd-application-controller"}

	runRuleCases(t, RuleChangeCause, []ruleCase{
		// What changed.
		{
			name:   "kubectl create deployment records the image it was created with, by whom, via which tool.",
			review: via("kubectl-create", create(deployment(t))),
			want:   []Finding{changeCauseSet(false, "created with image nginx=nginx:1.18 by alice@example.com via kubectl-create")},
		},
		{
			name:   "kubectl set image records the new image and the one it replaces.",
			review: via("kubectl-set", update(deployment(t, recorded), deployment(t, recorded, image120))),
			want: []Finding{changeCauseOn("deployment/nginx", true, true,
				"image nginx=nginx:1.20.1 (was nginx:1.18) by alice@example.com via kubectl-set")},
		},
		{
			name:   "kubectl rollout restart records a restart.",
			review: via("kubectl-rollout", update(v120, v120restarted)),
			want:   []Finding{changeCauseSet(false, "rollout restart by alice@example.com via kubectl-rollout")},
		},
		{
			name: "Changed, added and removed env vars are named, across containers.",
			review: update(deployment(t, `{spec: {template: {spec: {containers: [{name: nginx, image: nginx:1.18, env: [{name: API_URL, value: a}, {name: MODE, value: x}]}]}}}}`),
				deployment(t, `{spec: {template: {spec: {containers: [{name: nginx, image: nginx:1.18, env: [{name: API_URL, value: b}, {name: DEBUG, value: "1"}]}]}}}}`)),
			want: []Finding{changeCauseSet(false, "env API_URL, DEBUG, MODE by alice@example.com")},
		},
		{
			name: "Resources name the container and each request or limit with its new value.",
			review: update(deployment(t, `{spec: {template: {spec: {containers: [{name: nginx, image: nginx:1.18, resources: {requests: {cpu: 100m}, limits: {cpu: "1"}}}]}}}}`),
				deployment(t, `{spec: {template: {spec: {containers: [{name: nginx, image: nginx:1.18, resources: {requests: {cpu: 250m, memory: 256Mi}}}]}}}}`)),
			want: []Finding{changeCauseSet(false, "resources nginx requests.cpu=250m requests.memory=256Mi -limits.cpu by alice@example.com")},
		},
		{
			name: "Probes name the container and which probes changed.",
			review: update(deployment(t),
				deployment(t, `{spec: {template: {spec: {containers: [{name: nginx, image: nginx:1.18, readinessProbe: {httpGet: {path: /ready, port: 80}}, livenessProbe: {tcpSocket: {port: 80}}}]}}}}`)),
			want: []Finding{changeCauseSet(false, "probes nginx readiness/liveness by alice@example.com")},
		},
		{
			name:   "Pod template annotations are named by key.",
			review: update(deployment(t), deployment(t, `{spec: {template: {metadata: {annotations: {prometheus.io/scrape: "true"}}}}}`)),
			want:   []Finding{changeCauseSet(false, "pod annotations prometheus.io/scrape by alice@example.com")},
		},
		{
			name:   "Any other pod spec field is named.",
			review: update(deployment(t), deployment(t, `{spec: {template: {spec: {nodeSelector: {disk: ssd}, terminationGracePeriodSeconds: 60}}}}`)),
			want:   []Finding{changeCauseSet(false, "pod spec nodeSelector, terminationGracePeriodSeconds by alice@example.com")},
		},
		{
			name: "A long change keeps within the line kubectl rollout history shows, counting what it leaves out.",
			review: by(argoCD, via("argocd-controller", update(deployment(t),
				deployment(t, `{spec: {template: {spec: {containers: [{name: nginx, image: nginx:1.20.1, env: [{name: API_URL, value: a}, {name: FEATURE_FLAGS, value: b}, {name: LOG_LEVEL, value: c}, {name: TRACING_ENDPOINT, value: d}]}]}}}}`)))),
			want: []Finding{changeCauseSet(false, "image nginx=nginx:1.20.1; … "+
				"by system:serviceaccount:argocd:argocd-application-controller via argocd-controller")},
		},
		{
			name: "A long list shows its first items and counts the rest, and previous images go first.",
			review: via("kubectl-client-side-apply", update(deployment(t),
				deployment(t, `{spec: {template: {spec: {containers: [{name: nginx, image: nginx:1.20.1, env: [{name: API_URL, value: a}, {name: FEATURE_FLAGS, value: b}, {name: LOG_LEVEL, value: c}, {name: TRACING_ENDPOINT, value: d}, {name: OTEL_SERVICE_NAME, value: e}]}]}}}}`))),
			want: []Finding{changeCauseSet(false, "image nginx=nginx:1.20.1; env API_URL, FEATURE_FLAGS, 3 more by alice@example.com via kubectl-client-side-apply")},
		},
		{
			name: "An added container and a removed one are named.",
			review: update(deployment(t, `{spec: {template: {spec: {containers: [{name: nginx, image: nginx:1.18}, {name: old-proxy, image: envoy:1}]}}}}`),
				deployment(t, `{spec: {template: {spec: {containers: [{name: nginx, image: nginx:1.18}, {name: proxy, image: envoy:2}]}}}}`)),
			want: []Finding{changeCauseSet(false, "added container proxy; removed container old-proxy by alice@example.com")},
		},
		// Rollback.
		{
			name: "kubectl rollout undo of a Deployment replaces the change-cause it copied back from the old ReplicaSet with the rollback.",
			review: withHistory(update(
				deployment(t, image120, restarted, `{metadata: {annotations: {kubernetes.io/change-cause: "rollout restart by alice@example.com via kubectl-rollout"}}}`),
				deployment(t, recorded)),
				revisionOf(t, 1, &v118.Spec.Template, "created with image nginx=nginx:1.18 by alice@example.com via kubectl-create"),
				revisionOf(t, 2, &v120.Spec.Template, "image nginx=nginx:1.20.1 (was nginx:1.18) by alice@example.com via kubectl-set"),
				revisionOf(t, 3, &v120restarted.Spec.Template, "rollout restart by alice@example.com via kubectl-rollout")),
			want: []Finding{changeCauseOn("deployment/nginx", true, true, "rollback to revision 1 (image nginx=nginx:1.18) by alice@example.com")},
		},
		{
			name: "A StatefulSet's rollback (kubectl applies the ControllerRevision's template) is recognised by its revisions.",
			review: via("kubectl-rollout", withHistory(update(statefulSet(t, `{spec: {template: {spec: {containers: [{name: postgres, image: "postgres:18"}]}}}}`), statefulSet(t)),
				revisionOf(t, 1, &statefulSet(t).Spec.Template, ""),
				revisionOf(t, 2, &statefulSet(t, `{spec: {template: {spec: {containers: [{name: postgres, image: "postgres:18"}]}}}}`).Spec.Template, ""))),
			want: []Finding{changeCauseOn("statefulset/db", false, false, "rollback to revision 1 (image postgres=postgres:17) by alice@example.com via kubectl-rollout")},
		},
		{
			name: "A revert in Git whose applied manifest declares the restored revision's change-cause keeps it.",
			review: withHistory(update(
				deployment(t, image120, `{metadata: {annotations: {kubernetes.io/change-cause: "release 2"}}}`),
				deployment(t, `{metadata: {annotations: {kubernetes.io/change-cause: "release 1", kubectl.kubernetes.io/last-applied-configuration: "{\"metadata\":{\"annotations\":{\"kubernetes.io/change-cause\":\"release 1\"}}}"}}}`)),
				revisionOf(t, 1, &v118.Spec.Template, "release 1"), revisionOf(t, 2, &v120.Spec.Template, "release 2")),
		},
		{
			name:   "Without the history read, a rollback still says what changed.",
			review: update(v120, deployment(t)),
			want:   []Finding{changeCauseSet(false, "image nginx=nginx:1.18 (was nginx:1.20.1) by alice@example.com")},
		},
		{
			name: "A template equal to the newest revision is no rollback.",
			review: withHistory(update(v118, v120),
				revisionOf(t, 1, &v118.Spec.Template, ""), revisionOf(t, 2, &v120.Spec.Template, "")),
			want: []Finding{changeCauseSet(false, "image nginx=nginx:1.20.1 (was nginx:1.18) by alice@example.com")},
		},
		// The request's own change-cause.
		{
			name:   "A change-cause the request writes itself is kept.",
			review: update(v118, deployment(t, image120, `{metadata: {annotations: {kubernetes.io/change-cause: "release 2.4: new nginx"}}}`)),
		},
		{
			name:   "A change-cause a CREATE carries is kept.",
			review: create(deployment(t, `{metadata: {annotations: {kubernetes.io/change-cause: "first release"}}}`)),
		},
		{
			name: "A change-cause the applied manifest declares is kept, though unchanged: replacing it would fight kubectl apply.",
			review: via("kubectl-client-side-apply", update(
				deployment(t, `{metadata: {annotations: {kubernetes.io/change-cause: "release 2.4", kubectl.kubernetes.io/last-applied-configuration: "{\"metadata\":{\"annotations\":{\"kubernetes.io/change-cause\":\"release 2.4\"}}}"}}}`),
				deployment(t, image120, `{metadata: {annotations: {kubernetes.io/change-cause: "release 2.4", kubectl.kubernetes.io/last-applied-configuration: "{\"metadata\":{\"annotations\":{\"kubernetes.io/change-cause\":\"release 2.4\"}}}"}}}`))),
		},
		{
			name: "A change-cause a server-side applied manifest declares (its Apply entry owns it) is kept, though unchanged.",
			review: via("kustomize-controller", update(
				deployment(t, `{metadata: {annotations: {kubernetes.io/change-cause: "release 2.4"}}}`),
				deployment(t, image120, `{metadata: {annotations: {kubernetes.io/change-cause: "release 2.4"}, managedFields: [`+
					`{manager: kustomize-controller, operation: Apply, apiVersion: apps/v1, fieldsType: FieldsV1, fieldsV1: {"f:metadata": {"f:annotations": {"f:kubernetes.io/change-cause": {}}}}}]}}`))),
		},
		{
			name:   "A change-cause an Update entry owns (what a webhook or an imperative write set) is replaced.",
			review: via("kubectl-set", update(deployment(t, recorded), deployment(t, recorded, image120, `{metadata: {managedFields: [{manager: kubectl-set, operation: Update, apiVersion: apps/v1, fieldsType: FieldsV1, fieldsV1: {"f:metadata": {"f:annotations": {"f:kubernetes.io/change-cause": {}}}}}]}}`))),
			want: []Finding{changeCauseOn("deployment/nginx", true, true,
				"image nginx=nginx:1.20.1 (was nginx:1.18) by alice@example.com via kubectl-set")},
		},
		{
			name: "A change-cause that equals another revision's but not the restored one is the request's own.",
			review: withHistory(update(v120, deployment(t, `{metadata: {annotations: {kubernetes.io/change-cause: "my words"}}}`)),
				revisionOf(t, 1, &v118.Spec.Template, "created"), revisionOf(t, 2, &v120.Spec.Template, "my words")),
		},
		{
			name:   "A stored change-cause the request leaves as it was describes the last revision, so it is replaced.",
			review: via("kubectl-set", update(deployment(t, recorded), deployment(t, recorded, image120))),
			want: []Finding{changeCauseOn("deployment/nginx", true, true,
				"image nginx=nginx:1.20.1 (was nginx:1.18) by alice@example.com via kubectl-set")},
		},
		{
			name:   "No patch when the annotation already says the same (the webhook is called again).",
			review: via("kubectl-set", update(v118, deployment(t, image120, `{metadata: {annotations: {kubernetes.io/change-cause: "image nginx=nginx:1.20.1 (was nginx:1.18) by alice@example.com via kubectl-set"}}}`))),
		},
		// Writes left alone.
		{
			name:   "kubectl scale (replicas only) leaves the change-cause alone.",
			review: update(v118, deployment(t, `{spec: {replicas: 5}}`)),
		},
		{
			name:   "A label or annotation on the workload itself leaves it alone.",
			review: update(v118, deployment(t, `{metadata: {labels: {team: web}, annotations: {owner: alice}}}`)),
		},
		{
			name:   "The scale subresource is no template change.",
			review: scaleUpdate("Deployment", "nginx", 3, 5),
		},
		{
			name:   "A status write by the deployment controller is left alone.",
			review: by(UserInfo{Username: "system:serviceaccount:kube-system:deployment-controller"}, update(v118, v120)),
		},
		{
			name:   "A system actor's CREATE is left alone.",
			review: by(UserInfo{Username: "system:kube-controller-manager"}, create(deployment(t))),
		},
		{
			name:   "A ReplicaSet has no rollout history of its own.",
			review: create(replicaSet(t)),
		},
		{
			name:   "check and audit name no requester: an existing object or a manifest records nothing.",
			review: by(UserInfo{}, create(deployment(t))),
		},
		{
			name:   "changeCause: off records nothing.",
			engine: newEngine(t, "changeCause: off", currentServer),
			review: update(v118, v120),
		},
		{
			name:   "The object's exemption annotation switches it off.",
			review: update(v118, deployment(t, image120, `{metadata: {annotations: {gracekeeper.io/exempt: change-cause, gracekeeper.io/exempt-reason: our own pipeline writes it}}}`)),
		},
		{
			name:   "A DaemonSet's template change is recorded.",
			review: via("helm", update(daemonSet(t), daemonSet(t, `{spec: {template: {spec: {containers: [{name: agent, image: "fluent-bit:5"}]}}}}`))),
			want:   []Finding{changeCauseOn("daemonset/agent", false, false, "image agent=fluent-bit:5 (was fluent-bit:4) by alice@example.com via helm")},
		},
	})
}

// Every line fits what `kubectl rollout history` shows on one row, and is
// one line whatever the input.
func TestChangeCauseLineIsBounded(t *testing.T) {
	many := `{spec: {template: {spec: {containers: [` + strings.Repeat(`{name: c, image: x},`, 0) +
		`{name: nginx, image: "` + strings.Repeat("é", 300) + "\n" + `"}]}}}}`
	r := by(UserInfo{Username: strings.Repeat("u", 500)}, via(strings.Repeat("m", 300), update(deployment(t), deployment(t, many))))
	fs := only(RuleChangeCause, defaultEngine(t).Evaluate(r))
	if len(fs) != 1 {
		t.Fatalf("want one finding, got %v", fs)
	}
	line := fs[0].Patch[0].Value.(map[string]string)[ChangeCauseAnnotation]
	if n := utf8.RuneCountInString(line); n > MaxChangeCause || strings.ContainsAny(line, "\n\r") {
		t.Errorf("line of %d characters (max %d), or not one line: %q", n, MaxChangeCause, line)
	}
}

func TestNeedsHistory(t *testing.T) {
	e := defaultEngine(t)
	own := `{metadata: {annotations: {kubernetes.io/change-cause: "copied"}}}`
	for _, tc := range []struct {
		name   string
		review *Review
		want   bool
	}{
		{"A template change is read against the history.", update(deployment(t), deployment(t, `{spec: {template: {spec: {containers: [{name: nginx, image: "nginx:2"}]}}}}`)), true},
		{"A template change writing its own change-cause is read too: it may be the copy kubectl rollout undo makes.", update(deployment(t), deployment(t, own, `{spec: {template: {spec: {containers: [{name: nginx, image: "nginx:2"}]}}}}`)), true},
		{"A CREATE has no history.", create(deployment(t)), false},
		{"A scale needs none.", update(deployment(t), deployment(t, `{spec: {replicas: 9}}`)), false},
		{"A history already read is not read again.", withHistory(update(deployment(t), deployment(t, `{spec: {template: {spec: {containers: [{name: nginx, image: "nginx:2"}]}}}}`))), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := e.NeedsHistory(tc.review, e.Evaluate(tc.review)); got != tc.want {
				t.Errorf("NeedsHistory = %v, want %v", got, tc.want)
			}
		})
	}
}

// The kinds table decides which kinds change-cause records: those `kubectl
// rollout history` reads, each with a pod template and a history limit.
func TestKindsWithARolloutHistory(t *testing.T) {
	got := map[string]string{}
	for _, k := range Kinds() {
		if k.History == "" {
			continue
		}
		got[k.GVK.Kind] = k.History
		if k.template == nil || k.revisionHistoryLimit == nil {
			t.Errorf("%s has a rollout history but no pod template or revisionHistoryLimit", k.GVK.Kind)
		}
	}
	want := map[string]string{"Deployment": "replicasets", "StatefulSet": "controllerrevisions", "DaemonSet": "controllerrevisions"}
	if !maps.Equal(got, want) {
		t.Errorf("kinds with a rollout history %v, want %v", got, want)
	}
}
