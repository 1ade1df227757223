package policies

import (
	"testing"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestForceDelete(t *testing.T) {
	const stillForceable = ". A pod stuck Terminating can still be force-deleted"
	deniedReplicaSetPod := []Finding{{Rule: RuleForceDelete, Action: ActionDeny, Object: "pod/nginx-7c5ddbdf54-x8r2f",
		Message: "force-deleting running pod/nginx-7c5ddbdf54-x8r2f (grace period 0) skips its preStop hook and drain",
		Hint: `Use "kubectl rollout restart deployment/nginx", or delete it gracefully with ` +
			`"kubectl delete pod/nginx-7c5ddbdf54-x8r2f"` + stillForceable}}

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
			name:   "A scheduled pod still Pending (pulling its image) is protected too.",
			review: deleteOf(pod(t, replicaSetPod, `{spec: {nodeName: node-1}, status: {phase: Pending}}`), gracePeriod(0)),
			want:   deniedReplicaSetPod,
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
			name:   "A pod annotated to exempt force-delete may be force-deleted.",
			review: deleteOf(pod(t, replicaSetPod, runningPod, `{metadata: {annotations: {gracekeeper.io/exempt: force-delete, gracekeeper.io/exempt-reason: node lost}}}`), gracePeriod(0)),
		},
	})
}

// The API server may run DELETE admission twice for one request: with the
// options as sent, then after rewriting them. The same input must give the
// same answer, and evaluating must not change the request.
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
			first := Decide(Validating, ModeEnforce, tc.review, engine.Evaluate(tc.review))
			second := Decide(Validating, ModeEnforce, tc.review, engine.Evaluate(tc.review))
			if normalJSON(t, first) != normalJSON(t, second) {
				t.Errorf("the second answer differs\nfirst:\n%s\nsecond:\n%s", normalJSON(t, first), normalJSON(t, second))
			}
			if !equality.Semantic.DeepEqual(stored, tc.review.OldObject) {
				t.Errorf("evaluating changed the stored pod")
			}
		})
	}
}
