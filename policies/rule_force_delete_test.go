package policies

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gracekeeper/gracekeeper/policies/policytest"
)

func TestForceDelete(t *testing.T) {
	const stillForceable = ". A pod stuck Terminating can still be force-deleted"
	deniedReplicaSetPod := []Finding{{Rule: RuleForceDelete, Action: ActionDeny, Object: "pod/nginx-7c5ddbdf54-x8r2f",
		Message: "force-deleting running pod/nginx-7c5ddbdf54-x8r2f (grace period 0) skips its preStop hook and drain",
		Hint: `Delete it gracefully with "kubectl delete pod/nginx-7c5ddbdf54-x8r2f"; ` +
			`to restart its pods, use "kubectl rollout restart deployment/nginx"` + stillForceable}}

	const sleeps5 = `{spec: {containers: [{name: app, image: nginx:1.18, lifecycle: {preStop: {sleep: {seconds: 5}}}}]}}`
	shortGrace := func(grace int) []Finding {
		f := deniedReplicaSetPod[0]
		f.Message = "deleting running pod/nginx-7c5ddbdf54-x8r2f with grace period " + itoa(int32(grace)) + "s kills it during its 5s preStop sleep, before it drains"
		return []Finding{f}
	}

	runRuleCases(t, RuleForceDelete, []ruleCase{
		{
			name:   "A grace period 0 delete of a scheduled, running pod is denied, naming the rollout restart.",
			review: deleteOf(pod(t, replicaSetPod, runningPod), gracePeriod(0)),
			want:   deniedReplicaSetPod,
		},
		{
			name:   "A grace period 0 delete of a scheduled, running bare pod is denied, naming the graceful delete.",
			review: deleteOf(pod(t, runningPod), gracePeriod(0)),
			want: []Finding{{Rule: RuleForceDelete, Action: ActionDeny, Object: "pod/web",
				Message: "force-deleting running pod/web (grace period 0) skips its preStop hook and drain",
				Hint:    `Delete it gracefully with "kubectl delete pod/web"` + stillForceable}},
		},
		{
			name:   "A scheduled pod still Pending with no container status yet (none started) has no hook to protect and passes.",
			review: deleteOf(pod(t, replicaSetPod, `{spec: {nodeName: node-1}, status: {phase: Pending}}`), gracePeriod(0)),
		},
		{
			name: "A scheduled pod in ImagePullBackOff (field case N04) has no container running and passes.",
			review: deleteOf(pod(t, replicaSetPod, `{spec: {nodeName: node-1}, status: {phase: Pending,
				containerStatuses: [{name: nginx, ready: false, restartCount: 0, image: x, imageID: "", state: {waiting: {reason: ImagePullBackOff}}}]}}`), gracePeriod(0)),
		},
		{
			name: "A Running pod whose only container is in CrashLoopBackOff has no container running and passes.",
			review: deleteOf(pod(t, replicaSetPod, `{spec: {nodeName: node-1}, status: {phase: Running,
				containerStatuses: [{name: nginx, ready: false, restartCount: 7, image: x, imageID: "", state: {waiting: {reason: CrashLoopBackOff}}}]}}`), gracePeriod(0)),
		},
		{
			name: "A Running pod with one container running and one crash-looping is protected.",
			review: deleteOf(pod(t, replicaSetPod, `{spec: {nodeName: node-1, containers: [{name: nginx, image: nginx:1.18}, {name: side, image: side:1}]}, status: {phase: Running,
				containerStatuses: [{name: nginx, ready: true, restartCount: 0, image: x, imageID: "", state: {running: {}}},
				{name: side, ready: false, restartCount: 7, image: x, imageID: "", state: {waiting: {reason: CrashLoopBackOff}}}]}}`), gracePeriod(0)),
			want: deniedReplicaSetPod,
		},
		{
			name: "A Pending pod whose native sidecar already runs is protected: the kubelet stops the sidecar gracefully.",
			review: deleteOf(pod(t, replicaSetPod, `{spec: {nodeName: node-1, initContainers: [{name: proxy, image: proxy:1, restartPolicy: Always}]}, status: {phase: Pending,
				initContainerStatuses: [{name: proxy, ready: true, restartCount: 0, image: x, imageID: "", state: {running: {}}}],
				containerStatuses: [{name: nginx, ready: false, restartCount: 0, image: x, imageID: "", state: {waiting: {reason: PodInitializing}}}]}}`), gracePeriod(0)),
			want: deniedReplicaSetPod,
		},
		{
			name:   "A scheduled pod whose status was not read (no phase) may be serving and is protected.",
			review: deleteOf(pod(t, replicaSetPod, `{spec: {nodeName: node-1}}`), gracePeriod(0)),
			want:   deniedReplicaSetPod,
		},
		{
			name: "A Job's running pod has no hook to protect and passes.",
			review: deleteOf(pod(t, runningPod, `{metadata: {name: migrate-x7k2p, ownerReferences: [{apiVersion: batch/v1, kind: Job, name: migrate, uid: 1b3f, controller: true}]},
				spec: {restartPolicy: Never}}`), gracePeriod(0)),
		},
		{
			name:   "A run-once bare pod (restartPolicy OnFailure) passes.",
			review: deleteOf(pod(t, runningPod, `{spec: {restartPolicy: OnFailure}}`), gracePeriod(0)),
		},
		{
			name:   "A mirror pod (static pod of a Node) passes: deleting it stops nothing.",
			review: deleteOf(pod(t, runningPod, `{metadata: {annotations: {kubernetes.io/config.mirror: abc123}, ownerReferences: [{apiVersion: v1, kind: Node, name: node-1, uid: 1b3f, controller: true}]}}`), gracePeriod(0)),
		},
		{
			name:   "Karpenter's deadline delete (grace = the time left, 4 s, under a 5 s sleep; field case N06) passes: the node goes either way.",
			review: by(UserInfo{Username: "system:serviceaccount:kube-system:karpenter", Groups: []string{"system:serviceaccounts"}}, deleteOf(pod(t, replicaSetPod, runningPod, sleeps5), gracePeriod(4))),
		},
		{
			name:   "cluster-autoscaler's short eviction passes too.",
			review: by(UserInfo{Username: "system:serviceaccount:kube-system:cluster-autoscaler"}, evictionOf(pod(t, replicaSetPod, runningPod, sleeps5), gracePeriod(2))),
		},
		{
			name:   "Another service account's short delete is denied, naming the exemption a node-termination tool needs.",
			review: by(UserInfo{Username: "system:serviceaccount:ops:node-reaper"}, deleteOf(pod(t, replicaSetPod, runningPod, sleeps5), gracePeriod(4))),
			want: func() []Finding {
				f := shortGrace(4)
				f[0].Hint += ". " + nodeTerminatorHint
				return f
			}(),
		},
		{
			name:   "An Argo Rollout's pod names the Argo Rollouts restart.",
			review: deleteOf(pod(t, runningPod, `{metadata: {name: web-6d4f8-abcde, labels: {rollouts-pod-template-hash: 6d4f8}, ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: web-6d4f8, uid: 1b3f, controller: true}]}}`), gracePeriod(0)),
			want: []Finding{{Rule: RuleForceDelete, Action: ActionDeny, Object: "pod/web-6d4f8-abcde",
				Message: "force-deleting running pod/web-6d4f8-abcde (grace period 0) skips its preStop hook and drain",
				Hint: `Delete it gracefully with "kubectl delete pod/web-6d4f8-abcde"; to restart its pods, ` +
					`use "kubectl argo rollouts restart web"` + stillForceable}},
		},
		{
			name:   "An unscheduled pod (no nodeName) arrives with grace period 0 from the API server and passes.",
			review: deleteOf(pod(t, replicaSetPod, `{status: {phase: Pending}}`), gracePeriod(0)),
		},
		{
			name:   "A Succeeded pod arrives with grace period 0 and passes.",
			review: deleteOf(pod(t, replicaSetPod, `{spec: {nodeName: node-1}, status: {phase: Succeeded}}`), gracePeriod(0)),
		},
		{
			name:   "A Failed pod arrives with grace period 0 and passes.",
			review: deleteOf(pod(t, replicaSetPod, `{spec: {nodeName: node-1}, status: {phase: Failed}}`), gracePeriod(0)),
		},
		{
			name:   "A pod already terminating (stuck on a dead node) may still be force-deleted.",
			review: deleteOf(pod(t, replicaSetPod, runningPod, `{metadata: {deletionTimestamp: "2026-11-27T05:00:00Z", deletionGracePeriodSeconds: 30}}`), gracePeriod(0)),
		},
		{
			name:   "A pod whose own terminationGracePeriodSeconds is 0 loses nothing and passes.",
			review: deleteOf(pod(t, replicaSetPod, runningPod, `{spec: {terminationGracePeriodSeconds: 0}}`), gracePeriod(0)),
		},
		{
			name:   "The kubelet's final delete (group system:nodes) passes.",
			review: by(kubelet, deleteOf(pod(t, replicaSetPod, runningPod), gracePeriod(0))),
		},
		{
			name:   "A plain delete without options passes.",
			review: deleteOf(pod(t, replicaSetPod, runningPod), nil),
		},
		{
			name:   "A delete with a short grace period of 1 passes.",
			review: deleteOf(pod(t, replicaSetPod, runningPod), gracePeriod(1)),
		},
		{
			name:   "A delete with options but no gracePeriodSeconds passes.",
			review: deleteOf(pod(t, replicaSetPod, runningPod), &metav1.DeleteOptions{}),
		},
		{
			name:   "kubectl delete pod --now (grace 1) of a running pod whose preStop sleeps 5s is denied (field case 07a).",
			review: deleteOf(pod(t, replicaSetPod, runningPod, sleeps5), gracePeriod(1)),
			want:   shortGrace(1),
		},
		{
			name:   "kubectl delete pod --grace-period=3 of a running pod whose preStop sleeps 5s is denied (field case 07b).",
			review: deleteOf(pod(t, replicaSetPod, runningPod, sleeps5), gracePeriod(3)),
			want:   shortGrace(3),
		},
		{
			name:   "A grace period equal to the preStop sleep leaves no time to drain and is denied.",
			review: deleteOf(pod(t, replicaSetPod, runningPod, sleeps5), gracePeriod(5)),
			want:   shortGrace(5),
		},
		{
			name:   "A negative grace period, which the API server treats as 1s, is denied as grace period 1.",
			review: deleteOf(pod(t, replicaSetPod, runningPod, sleeps5), gracePeriod(-1)),
			want:   shortGrace(1),
		},
		{
			name:   "A grace period that outlasts the preStop sleep passes force-delete (pod-delete warns).",
			review: deleteOf(pod(t, replicaSetPod, runningPod, sleeps5), gracePeriod(6)),
		},
		{
			name:   "An exec sleep preStop hook counts like the sleep action.",
			review: deleteOf(pod(t, replicaSetPod, runningPod, `{spec: {containers: [{name: app, image: nginx:1.18, lifecycle: {preStop: {exec: {command: [sleep, "5"]}}}}]}}`), gracePeriod(2)),
			want:   shortGrace(2),
		},
		{
			name: "A native sidecar's preStop sleep counts too.",
			review: deleteOf(pod(t, replicaSetPod, runningPod,
				`{spec: {initContainers: [{name: proxy, image: envoy:1, restartPolicy: Always, lifecycle: {preStop: {sleep: {seconds: 5}}}}]}}`), gracePeriod(4)),
			want: shortGrace(4),
		},
		{
			name:   "A grace override no shorter than the pod's own grace period loses nothing and passes.",
			review: deleteOf(pod(t, replicaSetPod, runningPod, sleeps5, `{spec: {terminationGracePeriodSeconds: 5}}`), gracePeriod(5)),
		},
		{
			name:   "A short grace override of a pod stuck Terminating passes.",
			review: deleteOf(pod(t, replicaSetPod, runningPod, sleeps5, `{metadata: {deletionTimestamp: "2026-11-27T05:00:00Z"}}`), gracePeriod(1)),
		},
		{
			name:   "kubectl drain --grace-period=0 evicting a running pod is denied.",
			review: evictionOf(pod(t, replicaSetPod, runningPod), gracePeriod(0)),
			want: []Finding{{Rule: RuleForceDelete, Action: ActionDeny, Object: "pod/nginx-7c5ddbdf54-x8r2f",
				Message: "evicting running pod/nginx-7c5ddbdf54-x8r2f with grace period 0 skips its preStop hook and drain",
				Hint:    "Evict it without a grace override (kubectl drain without --grace-period), so it gets its own 30s" + stillForceable}},
		},
		{
			name:   "An eviction with a grace override shorter than the preStop sleep is denied.",
			review: evictionOf(pod(t, replicaSetPod, runningPod, sleeps5), gracePeriod(2)),
			want: []Finding{{Rule: RuleForceDelete, Action: ActionDeny, Object: "pod/nginx-7c5ddbdf54-x8r2f",
				Message: "evicting running pod/nginx-7c5ddbdf54-x8r2f with grace period 2s kills it during its 5s preStop sleep, before it drains",
				Hint:    "Evict it without a grace override (kubectl drain without --grace-period), so it gets its own 30s" + stillForceable}},
		},
		{
			name: "An eviction with grace 0 of a Running pod whose container crash-loops passes, as its delete does.",
			review: evictionOf(pod(t, replicaSetPod, `{spec: {nodeName: node-1}, status: {phase: Running,
				containerStatuses: [{name: nginx, ready: false, restartCount: 7, image: x, imageID: "", state: {waiting: {reason: CrashLoopBackOff}}}]}}`), gracePeriod(0)),
		},
		{
			name:   "An eviction with grace 0 of a scheduled pod that is not Running yet passes.",
			review: evictionOf(pod(t, replicaSetPod, `{spec: {nodeName: node-1}, status: {phase: Pending}}`), gracePeriod(0)),
		},
		{
			name:   "An eviction with grace 0 of an unscheduled pod passes.",
			review: evictionOf(pod(t, replicaSetPod, `{status: {phase: Pending}}`), gracePeriod(0)),
		},
		{
			name:   "An eviction with grace 0 of a pod already terminating passes.",
			review: evictionOf(pod(t, replicaSetPod, runningPod, `{metadata: {deletionTimestamp: "2026-11-27T05:00:00Z"}}`), gracePeriod(0)),
		},
		{
			name:   "An eviction without a grace override is left to PodDisruptionBudgets.",
			review: evictionOf(pod(t, replicaSetPod, runningPod), nil),
		},
		{
			name:   "An eviction whose pod was not read is not judged.",
			review: evictionOf(nil, gracePeriod(0)),
		},
		{
			name:   "An eviction with grace 0 of a pod annotated to exempt force-delete passes.",
			review: evictionOf(pod(t, replicaSetPod, runningPod, `{metadata: {annotations: {gracekeeper.io/exempt: force-delete, gracekeeper.io/exempt-reason: node lost}}}`), gracePeriod(0)),
		},
		{
			name:   "A pod annotated to exempt force-delete may be force-deleted.",
			review: deleteOf(pod(t, replicaSetPod, runningPod, `{metadata: {annotations: {gracekeeper.io/exempt: force-delete, gracekeeper.io/exempt-reason: node lost}}}`), gracePeriod(0)),
		},
	})
}

// The API server may run DELETE admission twice for one request: with the
// options as sent, then after rewriting them. The same input must give the
// same findings (admission's TestForceDeleteIsAnsweredAlikeWhenEvaluatedTwice
// holds the answers to it), and evaluating must not change the request.
func TestForceDeleteIsStableWhenEvaluatedTwice(t *testing.T) {
	engine := defaultEngine(t)
	for _, tc := range []struct {
		name   string
		review *Review
	}{
		{"a running pod is denied both times", deleteOf(pod(t, replicaSetPod, runningPod), gracePeriod(0))},
		{"an unscheduled pod passes both times", deleteOf(pod(t, replicaSetPod), gracePeriod(0))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stored := tc.review.OldObject.DeepCopyObject()
			first, second := engine.Evaluate(tc.review), engine.Evaluate(tc.review)
			if !reflect.DeepEqual(first, second) {
				t.Errorf("the second evaluation differs\nfirst:\n%s\nsecond:\n%s", policytest.NormalJSON(t, first), policytest.NormalJSON(t, second))
			}
			if !equality.Semantic.DeepEqual(stored, tc.review.OldObject) {
				t.Errorf("evaluating changed the stored pod")
			}
		})
	}
}

// evictionOf is `kubectl drain` evicting a pod through pods/eviction, with the
// Eviction's deleteOptions; the pod is what the webhook read (nil: not read).
func evictionOf(p *corev1.Pod, options *metav1.DeleteOptions) *Review {
	r := &Review{Operation: Create, Kind: "Pod", SubResource: "eviction", Namespace: "shop", Name: "nginx-7c5ddbdf54-x8r2f", User: alice,
		Object: &policyv1.Eviction{TypeMeta: metav1.TypeMeta{APIVersion: "policy/v1", Kind: "Eviction"},
			ObjectMeta: metav1.ObjectMeta{Name: "nginx-7c5ddbdf54-x8r2f", Namespace: "shop"}, DeleteOptions: options}}
	if p != nil {
		r.Parent = p
	}
	return r
}
