package policies

import "testing"

func TestPodDelete(t *testing.T) {
	const replicaSetPodRef = "pod/nginx-7c5ddbdf54-x8r2f"
	restart := func(workload string) []Finding {
		return []Finding{{Rule: RulePodDelete, Action: ActionWarn, Object: replicaSetPodRef,
			Message: `to restart pods, use "kubectl rollout restart ` + workload + `" instead of deleting them`}}
	}
	const statefulSetPod = `
metadata:
  name: db-0
  labels: {app: db}
  ownerReferences:
  - {apiVersion: apps/v1, kind: StatefulSet, name: db, uid: 7d2e, controller: true}
`

	runRuleCases(t, RulePodDelete, []ruleCase{
		{
			name:   "Deleting a ReplicaSet's pod warns, naming the Deployment without the pod-template-hash suffix.",
			review: deleteOf(pod(t, replicaSetPod, runningPod), nil),
			want:   restart("deployment/nginx"),
		},
		{
			name:   "A bare ReplicaSet (its name does not end in the pod's hash) has no rollout: the advice is a Deployment that adopts it.",
			review: deleteOf(pod(t, replicaSetPod, runningPod, `{metadata: {labels: {pod-template-hash: 5f9d8c7b6a}}}`), nil),
			want: []Finding{{Rule: RulePodDelete, Action: ActionWarn, Object: replicaSetPodRef,
				Message: "to restart pods, apply a Deployment that selects its pods (it adopts them and rolls out), instead of deleting them by hand"}},
		},
		{
			name:   "Deleting a StatefulSet's pod warns, naming the StatefulSet and what to do if it is OnDelete, which a pod does not show.",
			review: deleteOf(pod(t, statefulSetPod, runningPod), nil),
			want: []Finding{{Rule: RulePodDelete, Action: ActionWarn, Object: "pod/db-0",
				Message: `to restart pods, use "kubectl rollout restart statefulset/db" instead of deleting them; if statefulset/db has updateStrategy OnDelete, ` +
					`that changes no pod: delete its pods one at a time, waiting for each new pod to be Ready instead`}},
		},
		{
			name:   "An Argo Rollout's pod (rollouts-pod-template-hash) names the Argo Rollouts restart.",
			review: deleteOf(pod(t, runningPod, `{metadata: {name: web-6d4f8-abcde, labels: {rollouts-pod-template-hash: 6d4f8}, ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: web-6d4f8, uid: 1b3f, controller: true}]}}`), nil),
			want: []Finding{{Rule: RulePodDelete, Action: ActionWarn, Object: "pod/web-6d4f8-abcde",
				Message: `to restart pods, use "kubectl argo rollouts restart web" instead of deleting them`}},
		},
		{
			name: "A DeploymentConfig's pod (its ReplicationController's) names oc rollout latest.",
			review: deleteOf(pod(t, runningPod, `{metadata: {name: api-3-x2k9p, annotations: {openshift.io/deployment-config.name: api},
				ownerReferences: [{apiVersion: v1, kind: ReplicationController, name: api-3, uid: 1b3f, controller: true}]}}`), nil),
			want: []Finding{{Rule: RulePodDelete, Action: ActionWarn, Object: "pod/api-3-x2k9p",
				Message: `to restart pods, use "oc rollout latest dc/api" instead of deleting them`}},
		},
		{
			name:   "A bare ReplicationController's pod passes: it has no rollout, deleting its pods one at a time is its restart.",
			review: deleteOf(pod(t, runningPod, `{metadata: {ownerReferences: [{apiVersion: v1, kind: ReplicationController, name: api, uid: 1b3f, controller: true}]}}`), nil),
		},
		{
			name:   "A pending pod of a ReplicaSet (no container started) is clean-up and passes.",
			review: deleteOf(pod(t, replicaSetPod, `{spec: {nodeName: node-1}, status: {phase: Pending}}`), nil),
		},
		{
			name: "A pod in CrashLoopBackOff (no container running) passes.",
			review: deleteOf(pod(t, replicaSetPod, `{spec: {nodeName: node-1}, status: {phase: Running,
				containerStatuses: [{name: nginx, ready: false, restartCount: 7, image: x, imageID: "", state: {waiting: {reason: CrashLoopBackOff}}}]}}`), nil),
		},
		{
			// Field case N29: VictoriaMetrics' operator rolls its OnDelete StatefulSet.
			name:   "An operator's service account deleting a pod of a StatefulSet (its OnDelete rollout) passes, even with podDelete: deny.",
			engine: newEngine(t, "podDelete: deny", currentServer),
			review: by(UserInfo{Username: "system:serviceaccount:monitoring:vm-operator", Groups: []string{"system:serviceaccounts"}},
				deleteOf(pod(t, statefulSetPod, runningPod), nil)),
		},
		{
			name:   "An operator's service account deleting a pod of its own custom controller (StrimziPodSet) passes.",
			engine: newEngine(t, "podDelete: deny", currentServer),
			review: by(UserInfo{Username: "system:serviceaccount:kafka:strimzi-cluster-operator"},
				deleteOf(pod(t, runningPod, `{metadata: {ownerReferences: [{apiVersion: core.strimzi.io/v1beta2, kind: StrimziPodSet, name: my-cluster-kafka, uid: 1b3f, controller: true}]}}`), nil)),
		},
		{
			name:   "A service account deleting a Deployment's pod is still denied with podDelete: deny: the Deployment rolls itself.",
			engine: newEngine(t, "podDelete: deny", currentServer),
			review: by(UserInfo{Username: "system:serviceaccount:ci:deployer"}, deleteOf(pod(t, replicaSetPod, runningPod), nil)),
			want: []Finding{{Rule: RulePodDelete, Action: ActionDeny, Object: replicaSetPodRef,
				Message: `deleting pods by hand: to restart pods, use "kubectl rollout restart deployment/nginx" instead of deleting them`,
				Hint: `To remove a pod on purpose, run "kubectl annotate ` + replicaSetPodRef +
					` gracekeeper.io/exempt=pod-delete gracekeeper.io/exempt-reason=<why>", then delete it`}},
		},
		{
			name:   "A person deleting a StatefulSet's pod with podDelete: deny is denied.",
			engine: newEngine(t, "podDelete: deny", currentServer),
			review: deleteOf(pod(t, statefulSetPod, runningPod), nil),
			want: []Finding{{Rule: RulePodDelete, Action: ActionDeny, Object: "pod/db-0",
				Message: `deleting pods by hand: to restart pods, use "kubectl rollout restart statefulset/db" instead of deleting them; if statefulset/db has updateStrategy OnDelete, ` +
					`that changes no pod: delete its pods one at a time, waiting for each new pod to be Ready instead`,
				Hint: `To remove a pod on purpose, run "kubectl annotate pod/db-0 gracekeeper.io/exempt=pod-delete gracekeeper.io/exempt-reason=<why>", then delete it`}},
		},
		{
			name:   "Karpenter's delete passes, even with podDelete: deny.",
			engine: newEngine(t, "podDelete: deny", currentServer),
			review: by(UserInfo{Username: "system:serviceaccount:karpenter:karpenter"}, deleteOf(pod(t, replicaSetPod, runningPod), nil)),
		},
		{
			name:   "Deleting a bare pod warns that nothing will recreate it.",
			review: deleteOf(pod(t, runningPod), nil),
			want: []Finding{{Rule: RulePodDelete, Action: ActionWarn, Object: "pod/web",
				Message: "pod/web has no controller: nothing will recreate it"}},
		},
		{
			name:   "With podDelete: deny the delete is denied, with the annotate-then-delete two-step.",
			engine: newEngine(t, "podDelete: deny", currentServer),
			review: deleteOf(pod(t, replicaSetPod, runningPod), nil),
			want: []Finding{{Rule: RulePodDelete, Action: ActionDeny, Object: replicaSetPodRef,
				Message: `deleting pods by hand: to restart pods, use "kubectl rollout restart deployment/nginx" instead of deleting them`,
				Hint: `To remove a pod on purpose, run "kubectl annotate ` + replicaSetPodRef +
					` gracekeeper.io/exempt=pod-delete gracekeeper.io/exempt-reason=<why>", then delete it`}},
		},
		{
			name:   "The kubelet's delete (group system:nodes) gets no finding.",
			review: by(kubelet, deleteOf(pod(t, replicaSetPod, runningPod), nil)),
		},
		{
			name:   "A preemption by the scheduler gets no finding.",
			review: by(UserInfo{Username: "system:kube-scheduler"}, deleteOf(pod(t, replicaSetPod, runningPod), nil)),
		},
		{
			name:   "Deleting a Succeeded pod is clean-up and passes.",
			review: deleteOf(pod(t, replicaSetPod, `{spec: {nodeName: node-1}, status: {phase: Succeeded}}`), nil),
		},
		{
			name:   "Deleting a Failed pod is clean-up and passes.",
			review: deleteOf(pod(t, `{spec: {nodeName: node-1}, status: {phase: Failed}}`), nil),
		},
		{
			name:   "Deleting a pod that is already terminating passes.",
			review: deleteOf(pod(t, replicaSetPod, runningPod, `{metadata: {deletionTimestamp: "2026-11-27T05:00:00Z"}}`), nil),
		},
		{
			name:   "Deleting a Job's pod passes: it does not serve.",
			review: deleteOf(pod(t, runningPod, `{metadata: {ownerReferences: [{apiVersion: batch/v1, kind: Job, name: backup, uid: 9c1d, controller: true}]}}`), nil),
		},
		{
			name:   "Where Job pods are configured to serve (skipOwnerKinds: []), deleting one warns without a restart command, since none exists.",
			engine: newEngine(t, "preStop: {skipOwnerKinds: []}", currentServer),
			review: deleteOf(pod(t, runningPod, `{metadata: {ownerReferences: [{apiVersion: batch/v1, kind: Job, name: backup, uid: 9c1d, controller: true}]}}`), nil),
			want: []Finding{{Rule: RulePodDelete, Action: ActionWarn, Object: "pod/web",
				Message: "pod/web belongs to job/backup, which no command restarts gracefully"}},
		},
		{
			name:   "Deleting a run-once bare pod passes.",
			review: deleteOf(pod(t, runningPod, `{spec: {restartPolicy: Never}}`), nil),
		},
		{
			name:   "A pod annotated to exempt pod-delete may be deleted.",
			review: deleteOf(pod(t, replicaSetPod, runningPod, `{metadata: {annotations: {gracekeeper.io/exempt: pod-delete, gracekeeper.io/exempt-reason: stuck on a bad node}}}`), nil),
		},
		{
			// Field case 06: DRA device-taint eviction deletes the pod of a tainted device.
			name:   "A pod delete by the device-taint-eviction-controller passes, even with podDelete: deny.",
			engine: newEngine(t, "podDelete: deny", currentServer),
			review: by(UserInfo{Username: "system:serviceaccount:kube-system:device-taint-eviction-controller",
				Groups: []string{"system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"}},
				deleteOf(pod(t, replicaSetPod, runningPod), nil)),
		},
		{
			name:   "A pod delete by the pod-garbage-collector passes, even with podDelete: deny.",
			engine: newEngine(t, "podDelete: deny", currentServer),
			review: by(UserInfo{Username: "system:serviceaccount:kube-system:pod-garbage-collector"},
				deleteOf(pod(t, replicaSetPod, runningPod), gracePeriod(0))),
		},
		{
			name:   "An eviction (pods/eviction, used by drain) is left to PodDisruptionBudgets.",
			review: eviction(deleteOf(pod(t, replicaSetPod, runningPod), nil)),
		},
	})
}

// eviction is the review of a pods/eviction request, which drain sends.
func eviction(r *Review) *Review {
	r.SubResource = "eviction"
	return r
}
