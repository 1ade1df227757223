package policies

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestWorkloadDelete(t *testing.T) {
	deniedFor := func(object string, pods int) []Finding {
		return []Finding{{Rule: RuleWorkloadDelete, Action: ActionDeny, Object: object,
			Message: "deleting " + object + " stops " + allPods(int32(pods)),
			Hint: `To restart or update it, use "kubectl rollout restart ` + object + `" or "kubectl apply"; ` +
				`to change an immutable field such as the selector, "kubectl delete ` + object + ` --cascade=orphan" (its pods keep running), then apply. ` +
				`To decommission it, run "kubectl annotate ` + object +
				` gracekeeper.io/exempt=workload-delete gracekeeper.io/exempt-reason=<why>", then delete it`}}
	}
	orphanDependents := true
	keepDependents := false

	argocd := UserInfo{Username: "system:serviceaccount:argocd:argocd-application-controller",
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:argocd", "system:authenticated"}}
	// The install docs' recipe: exempt Argo CD from workload-delete so it can prune.
	pruning := newEngine(t, "exemptions: [{rules: [workload-delete], serviceAccounts: [argocd/argocd-application-controller]}]", currentServer)
	const forceReplace = `{metadata: {annotations: {argocd.argoproj.io/sync-options: "Replace=true,Force=true"}}, spec: {replicas: 6}}`
	forceReplaceDenied := []Finding{{Rule: RuleWorkloadDelete, Action: ActionDeny, Object: "deployment/nginx",
		Message: "deleting deployment/nginx stops all 6 of its pods: its argocd.argoproj.io/sync-options has Force=true, so Argo CD deletes and recreates it",
		Hint: "Remove Force=true from argocd.argoproj.io/sync-options (Replace=true alone replaces it in place; ServerSideApply=true syncs objects too big to apply). " +
			`To decommission it, run "kubectl annotate deployment/nginx gracekeeper.io/exempt=workload-delete gracekeeper.io/exempt-reason=<why>", then delete it`}}

	deploymentController := UserInfo{Username: "system:serviceaccount:kube-system:deployment-controller",
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"}}
	namespaceHint := `To decommission it, run "kubectl annotate namespace/shop gracekeeper.io/exempt=workload-delete gracekeeper.io/exempt-reason=<why>", ` +
		`then delete it (or run "kubectl label namespace/shop gracekeeper.io/mode=off --overwrite" first)`
	namespaceDenied := []Finding{{Rule: RuleWorkloadDelete, Action: ActionDeny, Object: "namespace/shop",
		Message: "deleting namespace/shop deletes every workload in it at once (gracekeeper could not list them)",
		Hint:    namespaceHint}}
	holding := func(more bool, held ...HeldWorkload) *Review {
		r := deleteOf(namespace(t), nil)
		r.Parent = &NamespaceWorkloads{Running: held, More: more}
		return r
	}
	const fluxForce = `{metadata: {labels: {kustomize.toolkit.fluxcd.io/force: enabled}}, spec: {replicas: 6}}`
	flux := UserInfo{Username: "system:serviceaccount:flux-system:kustomize-controller"}
	fluxPruning := newEngine(t, "exemptions: [{rules: [workload-delete], serviceAccounts: [flux-system/kustomize-controller]}]", currentServer)

	runRuleCases(t, RuleWorkloadDelete, []ruleCase{
		{
			name:   "kubectl delete rs of an orphaned ReplicaSet with 3 replicas is denied.",
			review: deleteOf(replicaSet(t), nil),
			want: []Finding{{Rule: RuleWorkloadDelete, Action: ActionDeny, Object: "replicaset/nginx-7c5ddbdf54",
				Message: "deleting replicaset/nginx-7c5ddbdf54 stops all 3 of its pods",
				Hint: "To restart or update it, apply a Deployment that selects its pods (it adopts them and rolls out). " +
					`To decommission it, run "kubectl annotate replicaset/nginx-7c5ddbdf54 gracekeeper.io/exempt=workload-delete gracekeeper.io/exempt-reason=<why>", then delete it`}},
		},
		{
			name:   "kubectl delete rs of a Deployment's ReplicaSet is denied, naming the Deployment's rollout restart.",
			review: deleteOf(replicaSet(t, ownedByDeployment), nil),
			want: []Finding{{Rule: RuleWorkloadDelete, Action: ActionDeny, Object: "replicaset/nginx-7c5ddbdf54",
				Message: "deleting replicaset/nginx-7c5ddbdf54 stops all 3 of its pods",
				Hint: `To restart or update it, use "kubectl rollout restart deployment/nginx". ` +
					`To decommission it, run "kubectl annotate replicaset/nginx-7c5ddbdf54 gracekeeper.io/exempt=workload-delete gracekeeper.io/exempt-reason=<why>", then delete it`}},
		},
		{
			name:   "Deleting a ReplicaSet scaled to 0 passes: it is an old revision.",
			review: deleteOf(replicaSet(t, `{spec: {replicas: 0}}`), nil),
		},
		{
			name:   "The deployment controller deleting old ReplicaSets (revisionHistoryLimit) passes.",
			review: by(deploymentController, deleteOf(replicaSet(t), nil)),
		},
		{
			name:   "The garbage collector deleting a Deployment's ReplicaSet passes.",
			review: by(garbageCollector, deleteOf(replicaSet(t), propagation(metav1.DeletePropagationBackground))),
		},
		{
			name:   "kubectl delete namespace of a namespace the mode paths cover is denied, naming the two-step.",
			review: deleteOf(namespace(t), nil),
			want:   namespaceDenied,
		},
		{
			name:   "kubectl replace --force of a namespace (DELETE with Background propagation) is denied too.",
			review: deleteOf(namespace(t), propagation(metav1.DeletePropagationBackground)),
			want:   namespaceDenied,
		},
		{
			name:   "A namespace annotated to exempt workload-delete may be deleted.",
			review: deleteOf(namespace(t, `{metadata: {annotations: {gracekeeper.io/exempt: workload-delete, gracekeeper.io/exempt-reason: team moved}}}`), nil),
		},
		{
			name:   "With workloadDelete: warn, deleting a namespace warns.",
			engine: newEngine(t, "workloadDelete: warn", currentServer),
			review: deleteOf(namespace(t), nil),
			want: []Finding{{Rule: RuleWorkloadDelete, Action: ActionWarn, Object: "namespace/shop",
				Message: "deleting namespace/shop deletes every workload in it at once (gracekeeper could not list them)"}},
		},
		{
			// Field case N22: a preview namespace whose workloads are gone.
			name:   "A namespace the webhook listed and found holding no workload with pods is deleted freely.",
			review: by(UserInfo{Username: "system:serviceaccount:argocd:argocd-applicationset-controller"}, holding(false)),
		},
		{
			name:   "A namespace holding running workloads is denied, naming the first and how many more.",
			review: holding(false, HeldWorkload{Ref: "deployment/web", Pods: 3}, HeldWorkload{Ref: "statefulset/db", Pods: 1}, HeldWorkload{Ref: "daemonset/agent", Pods: 2}),
			want: []Finding{{Rule: RuleWorkloadDelete, Action: ActionDeny, Object: "namespace/shop",
				Message: "deleting namespace/shop deletes deployment/web (3 pods) and 2 more", Hint: namespaceHint}},
		},
		{
			name:   "A namespace holding one workload names it alone; a list cut at its limit says so.",
			review: holding(true, HeldWorkload{Ref: "statefulset/db", Pods: 1}),
			want: []Finding{{Rule: RuleWorkloadDelete, Action: ActionDeny, Object: "namespace/shop",
				Message: "deleting namespace/shop deletes statefulset/db (1 pod) and more", Hint: namespaceHint}},
		},
		{
			name:   "A namespace whose lists stopped at their limit with nothing running yet stays guarded.",
			review: holding(true),
			want: []Finding{{Rule: RuleWorkloadDelete, Action: ActionDeny, Object: "namespace/shop",
				Message: "deleting namespace/shop deletes workloads beyond the first 100 of a kind, which gracekeeper does not read", Hint: namespaceHint}},
		},
		{
			name:   "Flux exempted to prune may not recreate a serving Deployment labelled kustomize.toolkit.fluxcd.io/force: enabled.",
			engine: fluxPruning,
			review: by(flux, deleteOf(deployment(t, fluxForce), nil)),
			want: []Finding{{Rule: RuleWorkloadDelete, Action: ActionDeny, Object: "deployment/nginx",
				Message: "deleting deployment/nginx stops all 6 of its pods: its label kustomize.toolkit.fluxcd.io/force is enabled, so Flux deletes and recreates it",
				Hint: "Remove the label kustomize.toolkit.fluxcd.io/force (Flux then reports the failed apply instead of recreating it); " +
					"to change an immutable field, delete it with --cascade=orphan and let Flux apply it. " +
					`To decommission it, run "kubectl annotate deployment/nginx gracekeeper.io/exempt=workload-delete gracekeeper.io/exempt-reason=<why>", then delete it`}},
		},
		{
			name:   "Flux's force annotation counts like the label.",
			engine: fluxPruning,
			review: by(flux, deleteOf(deployment(t, `{metadata: {annotations: {kustomize.toolkit.fluxcd.io/force: Enabled}}}`), nil)),
			want: []Finding{{Rule: RuleWorkloadDelete, Action: ActionDeny, Object: "deployment/nginx",
				Message: "deleting deployment/nginx stops all 3 of its pods: its annotation kustomize.toolkit.fluxcd.io/force is enabled, so Flux deletes and recreates it",
				Hint: "Remove the annotation kustomize.toolkit.fluxcd.io/force (Flux then reports the failed apply instead of recreating it); " +
					"to change an immutable field, delete it with --cascade=orphan and let Flux apply it. " +
					`To decommission it, run "kubectl annotate deployment/nginx gracekeeper.io/exempt=workload-delete gracekeeper.io/exempt-reason=<why>", then delete it`}},
		},
		{
			name:   "Deleting an OnDelete StatefulSet names the restart that works for it: one pod at a time, not rollout restart.",
			review: deleteOf(statefulSet(t, `{spec: {updateStrategy: {type: OnDelete}}}`), nil),
			want: []Finding{{Rule: RuleWorkloadDelete, Action: ActionDeny, Object: "statefulset/db",
				Message: "deleting statefulset/db stops all 3 of its pods",
				Hint: `To restart it, delete its pods one at a time, waiting for each new pod to be Ready: with updateStrategy OnDelete, "kubectl rollout restart" changes no pod; ` +
					`to update it, use "kubectl apply"; to change an immutable field such as the selector, "kubectl delete statefulset/db --cascade=orphan" (its pods keep running), then apply. ` +
					`To decommission it, run "kubectl annotate statefulset/db gracekeeper.io/exempt=workload-delete gracekeeper.io/exempt-reason=<why>", then delete it`}},
		},
		{
			name:   "Deleting a ReplicaSet an Argo Rollout owns names the Argo Rollouts restart.",
			review: deleteOf(replicaSet(t, `{metadata: {ownerReferences: [{apiVersion: argoproj.io/v1alpha1, kind: Rollout, name: web, uid: 1b3f, controller: true}]}}`), nil),
			want: []Finding{{Rule: RuleWorkloadDelete, Action: ActionDeny, Object: "replicaset/nginx-7c5ddbdf54",
				Message: "deleting replicaset/nginx-7c5ddbdf54 stops all 3 of its pods",
				Hint: `To restart or update it, use "kubectl argo rollouts restart web". ` +
					`To decommission it, run "kubectl annotate replicaset/nginx-7c5ddbdf54 gracekeeper.io/exempt=workload-delete gracekeeper.io/exempt-reason=<why>", then delete it`}},
		},
		{
			name:   "Sveltos' forceRecreate annotation (any value) is a force marker too.",
			engine: fluxPruning,
			review: by(flux, deleteOf(deployment(t, `{metadata: {annotations: {projectsveltos.io/forceRecreate: ""}}}`), nil)),
			want: []Finding{{Rule: RuleWorkloadDelete, Action: ActionDeny, Object: "deployment/nginx",
				Message: "deleting deployment/nginx stops all 3 of its pods: its annotation projectsveltos.io/forceRecreate is set, so Sveltos deletes and recreates it",
				Hint: "Remove the annotation projectsveltos.io/forceRecreate (Sveltos then reports the rejected update instead of recreating it). " +
					`To decommission it, run "kubectl annotate deployment/nginx gracekeeper.io/exempt=workload-delete gracekeeper.io/exempt-reason=<why>", then delete it`}},
		},
		{
			name:   "Flux's prune of a Deployment without the force marker is what its exemption is for.",
			engine: fluxPruning,
			review: by(flux, deleteOf(deployment(t, `{metadata: {labels: {kustomize.toolkit.fluxcd.io/force: disabled}}}`), nil)),
		},
		{
			name:   "Creating or updating a namespace is not a delete.",
			review: update(namespace(t), namespace(t, `{metadata: {labels: {team: web}}}`)),
		},
		{
			name:   "Argo CD exempted to prune may delete a serving Deployment removed from Git.",
			engine: pruning,
			review: by(argocd, deleteOf(deployment(t), propagation(metav1.DeletePropagationForeground))),
		},
		{
			name:   "Argo CD exempted to prune may not force-replace a serving Deployment annotated Replace=true,Force=true (field case 12).",
			engine: pruning,
			review: by(argocd, deleteOf(deployment(t, forceReplace), propagation(metav1.DeletePropagationBackground))),
			want:   forceReplaceDenied,
		},
		{
			name:   "Force=true alone (kubectl apply --force recreates on a failed apply) is a force-replace too.",
			engine: pruning,
			review: by(argocd, deleteOf(deployment(t, `{metadata: {annotations: {argocd.argoproj.io/sync-options: "Force=true, Validate=false"}}, spec: {replicas: 6}}`), nil)),
			want:   forceReplaceDenied,
		},
		{
			name:   "Replace=true without Force replaces in place: Argo CD's delete of it is a prune.",
			engine: pruning,
			review: by(argocd, deleteOf(deployment(t, `{metadata: {annotations: {argocd.argoproj.io/sync-options: "Replace=true"}}}`), nil)),
		},
		{
			name:   "A force-replace annotated to exempt workload-delete passes: the object's own exemption is deliberate.",
			engine: pruning,
			review: by(argocd, deleteOf(deployment(t, forceReplace, `{metadata: {annotations: {gracekeeper.io/exempt: workload-delete, gracekeeper.io/exempt-reason: decommissioned}}}`), nil)),
		},
		{
			name:   "Deleting a Deployment with 3 replicas is denied, naming rollout restart and the annotate-then-delete two-step.",
			review: deleteOf(deployment(t), nil),
			want:   deniedFor("deployment/nginx", 3),
		},
		{
			name:   "Deleting a Deployment with 0 replicas passes: nothing is running.",
			review: deleteOf(deployment(t, `{spec: {replicas: 0}}`), nil),
		},
		{
			name:   "Deleting a Deployment without replicas (1 by default) is denied.",
			review: deleteOf(deployment(t, `{spec: {replicas: null}}`), nil),
			want:   deniedFor("deployment/nginx", 1),
		},
		{
			name:   "Deleting a StatefulSet with replicas is denied.",
			review: deleteOf(statefulSet(t), nil),
			want:   deniedFor("statefulset/db", 3),
		},
		{
			name:   "Deleting a DaemonSet scheduled on 4 nodes is denied.",
			review: deleteOf(daemonSet(t), nil),
			want:   deniedFor("daemonset/agent", 4),
		},
		{
			name:   "Deleting a DaemonSet scheduled nowhere passes.",
			review: deleteOf(daemonSet(t, `{status: {desiredNumberScheduled: 0}}`), nil),
		},
		{
			name:   "A delete with propagationPolicy Orphan (--cascade=orphan) keeps the pods and passes.",
			review: deleteOf(deployment(t), propagation(metav1.DeletePropagationOrphan)),
		},
		{
			name: "A delete with the old orphanDependents: true passes.",
			//lint:ignore SA1019 old clients still send it
			review: deleteOf(deployment(t), &metav1.DeleteOptions{OrphanDependents: &orphanDependents}),
		},
		{
			name: "A delete with orphanDependents: false is denied.",
			//lint:ignore SA1019 old clients still send it
			review: deleteOf(deployment(t), &metav1.DeleteOptions{OrphanDependents: &keepDependents}),
			want:   deniedFor("deployment/nginx", 3),
		},
		{
			name:   "A delete with propagationPolicy Foreground is denied.",
			review: deleteOf(deployment(t), propagation(metav1.DeletePropagationForeground)),
			want:   deniedFor("deployment/nginx", 3),
		},
		{
			name:   "A delete with propagationPolicy Background is denied.",
			review: deleteOf(deployment(t), propagation(metav1.DeletePropagationBackground)),
			want:   deniedFor("deployment/nginx", 3),
		},
		{
			name:   "A Deployment annotated to exempt workload-delete may be deleted.",
			review: deleteOf(deployment(t, `{metadata: {annotations: {gracekeeper.io/exempt: workload-delete, gracekeeper.io/exempt-reason: replaced by shop-v2}}}`), nil),
		},
		{
			name:   "An exemption for another rule does not allow the delete.",
			review: deleteOf(deployment(t, `{metadata: {annotations: {gracekeeper.io/exempt: scale-to-zero, gracekeeper.io/exempt-reason: batch}}}`), nil),
			want:   deniedFor("deployment/nginx", 3),
		},
		{
			name:   "With workloadDelete: warn the delete passes with a warning naming rollout restart.",
			engine: newEngine(t, "workloadDelete: warn", currentServer),
			review: deleteOf(deployment(t), nil),
			want: []Finding{{Rule: RuleWorkloadDelete, Action: ActionWarn, Object: "deployment/nginx",
				Message: `deleting deployment/nginx stops all 3 of its pods; to restart, use "kubectl rollout restart deployment/nginx"`}},
		},
		{
			name:   "Creating a Deployment is not a delete.",
			review: create(deployment(t)),
		},
	})
}

// The garbage collector and exemption annotations act on the whole answer,
// not only on this rule's findings.
func TestWorkloadDeleteAnswer(t *testing.T) {
	engine := defaultEngine(t)
	tests := []struct {
		name   string
		review *Review
		want   []Finding
	}{
		{
			name:   "A Deployment deleted by the garbage collector gets no findings at all.",
			review: by(garbageCollector, deleteOf(deployment(t), nil)),
		},
		{
			name:   "A Deployment deleted by the namespace controller gets no findings at all.",
			review: by(UserInfo{Username: "system:serviceaccount:kube-system:namespace-controller"}, deleteOf(deployment(t), nil)),
		},
		{
			name:   "An exemption with a reason passes silently.",
			review: deleteOf(deployment(t, `{metadata: {annotations: {gracekeeper.io/exempt: workload-delete, gracekeeper.io/exempt-reason: replaced by shop-v2}}}`), nil),
		},
		{
			name:   "An exemption without a reason passes with a warning asking for one.",
			review: deleteOf(deployment(t, `{metadata: {annotations: {gracekeeper.io/exempt: workload-delete}}}`), nil),
			want: []Finding{{Rule: RuleExemption, Action: ActionWarn, Object: "deployment/nginx",
				Message: "gracekeeper.io/exempt=workload-delete has no gracekeeper.io/exempt-reason; add one to record why"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assertFindings(t, engine.Evaluate(tc.review), tc.want)
		})
	}
}
