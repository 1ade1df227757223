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
			name:   "A ReplicaSet whose name does not end in the pod's hash is named as the ReplicaSet.",
			review: deleteOf(pod(t, replicaSetPod, runningPod, `{metadata: {labels: {pod-template-hash: 5f9d8c7b6a}}}`), nil),
			want:   restart("replicaset/nginx-7c5ddbdf54"),
		},
		{
			name:   "Deleting a StatefulSet's pod warns, naming the StatefulSet.",
			review: deleteOf(pod(t, statefulSetPod, runningPod), nil),
			want: []Finding{{Rule: RulePodDelete, Action: ActionWarn, Object: "pod/db-0",
				Message: `to restart pods, use "kubectl rollout restart statefulset/db" instead of deleting them`}},
		},
		{
			name:   "A pending pod of a ReplicaSet warns too: deleting it is still a restart by hand.",
			review: deleteOf(pod(t, replicaSetPod, `{status: {phase: Pending}}`), nil),
			want:   restart("deployment/nginx"),
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
