package policies

import (
	"slices"
	"testing"
)

func TestExemptions(t *testing.T) {
	deleteDenied := Finding{Rule: RuleWorkloadDelete, Action: ActionDeny, Object: "deployment/nginx",
		Message: "deleting deployment/nginx stops all 3 of its pods",
		Hint: `To restart or update it, use "kubectl rollout restart deployment/nginx" or "kubectl apply"; ` +
			`to change an immutable field such as the selector, "kubectl delete deployment/nginx --cascade=orphan" (its pods keep running), then apply. ` +
			`To decommission it, run "kubectl annotate deployment/nginx gracekeeper.io/exempt=workload-delete ` +
			`gracekeeper.io/exempt-reason=<why>", then delete it`}
	recreateDenied := Finding{Rule: RuleRecreateStrategy, Action: ActionDeny, Object: "deployment/nginx",
		Message: "strategy Recreate stops every pod before new ones start",
		Hint:    `Use strategy RollingUpdate with maxUnavailable: 0 and maxSurge: 25%, and "kubectl rollout restart deployment/nginx" to restart. ` + manifestExemptHint(RuleRecreateStrategy, "keep Recreate (pods that must never run twice)")}
	templateHook := Finding{Rule: RulePreStopHook, Action: ActionPatch, Object: "deployment/nginx", OnPods: true,
		Message: `add preStop sleep 5s to container "nginx" in the pods of deployment/nginx`,
		Patch:   []PatchOp{op("add", "/spec/template/spec/containers/0/lifecycle", `{"preStop":{"sleep":{"seconds":5}}}`)}}
	templateProbe := Finding{Rule: RuleReadinessProbe, Action: ActionWarn, Object: "deployment/nginx",
		Message: `container "nginx" has no readinessProbe, so a rollout cannot wait for it to serve`}
	const recreate = `{spec: {strategy: {type: Recreate}}}`
	const probed = `
spec:
  template:
    spec:
      containers:
      - {name: nginx, image: "nginx:1.18", readinessProbe: {httpGet: {path: /, port: 80}}}
`
	// A pod the ReplicaSet controller creates: generateName, no name yet.
	const createdByReplicaSet = `
metadata:
  name: null
  generateName: nginx-7c5ddbdf54-
  labels: {app: nginx, pod-template-hash: 7c5ddbdf54}
  annotations: {gracekeeper.io/exempt: readiness-probe}
  ownerReferences:
  - {apiVersion: apps/v1, kind: ReplicaSet, name: nginx-7c5ddbdf54, uid: 1b3f, controller: true}
spec: {terminationGracePeriodSeconds: 10}
`
	exemptConfig := func(who string) *Engine {
		return newEngine(t, "exemptions: [{rules: [workload-delete, scale-to-zero], "+who+"}]", currentServer)
	}
	argoCD := UserInfo{Username: "system:serviceaccount:argocd:argocd-application-controller",
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:argocd"}}

	tests := []struct {
		name   string
		engine *Engine
		review *Review
		want   []Finding
	}{
		{
			name:   "A user named in a rule's exemption may delete the workload.",
			engine: exemptConfig("users: [alice@example.com]"),
			review: deleteOf(deployment(t), nil),
		},
		{
			name:   "A user not named in the exemption is still denied.",
			engine: exemptConfig("users: [bob@example.com]"),
			review: deleteOf(deployment(t), nil),
			want:   []Finding{deleteDenied},
		},
		{
			name:   "A member of an exempted group may delete the workload.",
			engine: exemptConfig("groups: [system:authenticated]"),
			review: deleteOf(deployment(t), nil),
		},
		{
			name:   "An exempted service account, written namespace/name, matches its username.",
			engine: exemptConfig("serviceAccounts: [argocd/argocd-application-controller]"),
			review: by(argoCD, deleteOf(deployment(t), nil)),
		},
		{
			name:   "A service account of the same name in another namespace is not exempted.",
			engine: exemptConfig("serviceAccounts: [argocd/argocd-application-controller]"),
			review: by(UserInfo{Username: "system:serviceaccount:tenant-a:argocd-application-controller"}, deleteOf(deployment(t), nil)),
			want:   []Finding{deleteDenied},
		},
		{
			name:   "An exemption covers only the rules it names.",
			engine: exemptConfig("users: [alice@example.com]"),
			review: create(deployment(t, recreate, probed)),
			want:   []Finding{recreateDenied, nginxCreated, templateHook},
		},
		{
			name:   `An exemption for "all" rules switches every rule off for that user, mutations included.`,
			engine: newEngine(t, "exemptions: [{rules: [all], users: [alice@example.com]}]", currentServer),
			review: create(deployment(t, recreate)),
		},
		{
			name:   `The annotation "all" switches every rule off for the object, with a reason given.`,
			review: deleteOf(deployment(t, `{metadata: {annotations: {gracekeeper.io/exempt: all, gracekeeper.io/exempt-reason: decommissioned}}}`), nil),
		},
		{
			name:   "A workload's own annotation does not reach its pods: only the template's annotations do.",
			review: create(deployment(t, recreate, probed, `{metadata: {annotations: {gracekeeper.io/exempt: all, gracekeeper.io/exempt-reason: legacy}}}`)),
			want:   []Finding{templateHook},
		},
		{
			name:   "The template's annotation exempts the pod rules.",
			review: create(deployment(t, `{spec: {template: {metadata: {annotations: {gracekeeper.io/exempt: "prestop-hook, readiness-probe"}}}}}`)),
			want:   []Finding{nginxCreated},
		},
		{
			name:   "An annotation may list several rules, spaces allowed.",
			review: create(deployment(t, recreate, `{metadata: {annotations: {gracekeeper.io/exempt: "recreate-strategy, prestop-hook", gracekeeper.io/exempt-reason: legacy}}}`)),
			want:   []Finding{changeCauseSet(true, "created with image nginx=nginx:1.18 by alice@example.com"), templateHook, templateProbe},
		},
		{
			name:   "An unknown rule id in the annotation warns, and the known ids still apply.",
			review: deleteOf(deployment(t, `{metadata: {annotations: {gracekeeper.io/exempt: "workload-delete,pod-delet", gracekeeper.io/exempt-reason: moved}}}`), nil),
			want: []Finding{{Rule: RuleExemption, Action: ActionWarn, Object: "deployment/nginx",
				Message: `gracekeeper.io/exempt names unknown rule "pod-delet"; see the rule ids in the docs`}},
		},
		{
			name:   "An annotation naming only unknown ids exempts nothing, and says so.",
			review: deleteOf(deployment(t, `{metadata: {annotations: {gracekeeper.io/exempt: workload-deletion}}}`), nil),
			want: []Finding{
				{Rule: RuleExemption, Action: ActionWarn, Object: "deployment/nginx",
					Message: `gracekeeper.io/exempt names unknown rule "workload-deletion"; see the rule ids in the docs`},
				{Rule: RuleExemption, Action: ActionWarn, Object: "deployment/nginx",
					Message: "gracekeeper.io/exempt=workload-deletion has no gracekeeper.io/exempt-reason; add one to record why"},
				deleteDenied,
			},
		},
		{
			name:   "Pods the ReplicaSet controller creates still get their mutations, but no warnings.",
			review: by(replicaSetController, create(pod(t, createdByReplicaSet))),
			want: []Finding{
				{Rule: RulePreStopHook, Action: ActionPatch, Object: "pod/nginx-7c5ddbdf54-*",
					Message: `add preStop sleep 5s to container "app"`,
					Patch:   []PatchOp{op("add", "/spec/containers/0/lifecycle", `{"preStop":{"sleep":{"seconds":5}}}`)}},
				{Rule: RuleTerminationGracePeriod, Action: ActionPatch, Object: "pod/nginx-7c5ddbdf54-*",
					Message: "raise terminationGracePeriodSeconds from 10 to 30 (preStop 5s + shutdown 25s)",
					Patch:   []PatchOp{op("replace", "/spec/terminationGracePeriodSeconds", "30")}},
			},
		},
		{
			name:   "The same pod created by a person also gets the warning about the reasonless exemption.",
			review: create(pod(t, createdByReplicaSet)),
			want: []Finding{
				{Rule: RuleExemption, Action: ActionWarn, Object: "pod/nginx-7c5ddbdf54-*",
					Message: "gracekeeper.io/exempt=readiness-probe has no gracekeeper.io/exempt-reason; add one to record why"},
				{Rule: RulePreStopHook, Action: ActionPatch, Object: "pod/nginx-7c5ddbdf54-*",
					Message: `add preStop sleep 5s to container "app"`,
					Patch:   []PatchOp{op("add", "/spec/containers/0/lifecycle", `{"preStop":{"sleep":{"seconds":5}}}`)}},
				{Rule: RuleTerminationGracePeriod, Action: ActionPatch, Object: "pod/nginx-7c5ddbdf54-*",
					Message: "raise terminationGracePeriodSeconds from 10 to 30 (preStop 5s + shutdown 25s)",
					Patch:   []PatchOp{op("replace", "/spec/terminationGracePeriodSeconds", "30")}},
			},
		},
		{
			name:   "system:kube-controller-manager is never denied.",
			review: by(UserInfo{Username: "system:kube-controller-manager"}, update(deployment(t), deployment(t, `{spec: {replicas: 0}}`))),
		},
		{
			name: "The deployment controller's own write of a Deployment gets no patch: the mutating webhook never sees it.",
			review: by(UserInfo{Username: "system:serviceaccount:kube-system:deployment-controller"},
				update(deployment(t), deployment(t, `{spec: {revisionHistoryLimit: 1, strategy: {rollingUpdate: {maxUnavailable: 100%}}}}`))),
		},
		{
			name:   "Other accounts in kube-system are not system actors: add-ons and CI live there too.",
			review: by(UserInfo{Username: "system:serviceaccount:kube-system:helm-controller"}, deleteOf(deployment(t), nil)),
			want:   []Finding{deleteDenied},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			engine := tc.engine
			if engine == nil {
				engine = defaultEngine(t)
			}
			assertFindings(t, engine.Evaluate(tc.review), tc.want)
		})
	}
}

func TestSystemActors(t *testing.T) {
	users, groups := SystemActors()
	wantUsers := []string{
		"system:kube-controller-manager",
		"system:kube-scheduler",
		"system:serviceaccount:kube-system:cronjob-controller",
		"system:serviceaccount:kube-system:daemon-set-controller",
		"system:serviceaccount:kube-system:deployment-controller",
		"system:serviceaccount:kube-system:device-taint-eviction-controller",
		"system:serviceaccount:kube-system:disruption-controller",
		"system:serviceaccount:kube-system:generic-garbage-collector",
		"system:serviceaccount:kube-system:horizontal-pod-autoscaler",
		"system:serviceaccount:kube-system:job-controller",
		"system:serviceaccount:kube-system:namespace-controller",
		"system:serviceaccount:kube-system:node-controller",
		"system:serviceaccount:kube-system:persistent-volume-binder",
		"system:serviceaccount:kube-system:pod-garbage-collector",
		"system:serviceaccount:kube-system:replicaset-controller",
		"system:serviceaccount:kube-system:replication-controller",
		"system:serviceaccount:kube-system:statefulset-controller",
		"system:serviceaccount:kube-system:storage-version-migrator-controller",
	}
	if !slices.Equal(users, wantUsers) {
		t.Errorf("system users are\n%q\nwant the explicit list\n%q", users, wantUsers)
	}
	if !slices.Equal(groups, []string{"system:nodes"}) {
		t.Errorf("system groups are %q, want only system:nodes", groups)
	}
	for _, u := range []UserInfo{garbageCollector, replicaSetController, kubelet} {
		if !IsSystemActor(u) {
			t.Errorf("%s is not a system actor", u.Username)
		}
	}
	for _, u := range []UserInfo{alice, {Username: "system:serviceaccount:kube-system:coredns"}, {Username: "system:node:node-1"}} {
		if IsSystemActor(u) {
			t.Errorf("%s (groups %q) is a system actor", u.Username, u.Groups)
		}
	}
}
