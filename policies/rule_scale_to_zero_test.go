package policies

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
)

func TestScaleToZero(t *testing.T) {
	restart := func(object string) string {
		if strings.HasPrefix(object, "replicaset/") {
			return "To restart, apply a Deployment that selects its pods (it adopts them and rolls out)."
		}
		return `To restart, use "kubectl rollout restart ` + object + `".`
	}
	deniedFor := func(object string, from int) []Finding {
		return []Finding{{Rule: RuleScaleToZero, Action: ActionDeny, Object: object,
			Message: "scaling " + object + " from " + itoa(int32(from)) + " to 0 replicas stops the service",
			Hint: restart(object) + ` To scale it to zero on purpose, run "kubectl annotate ` +
				object + ` gracekeeper.io/exempt=scale-to-zero gracekeeper.io/exempt-reason=<why>", then "kubectl patch ` +
				object + ` -p '{"spec":{"replicas":0}}'"`}}
	}
	const zero = `{spec: {replicas: 0}}`
	// On /scale the hint depends on whether the webhook could read the workload.
	onScale := func(object string, from int, parentRead bool) []Finding {
		f := deniedFor(object, from)
		annotate := `"kubectl annotate ` + object + ` gracekeeper.io/exempt=scale-to-zero gracekeeper.io/exempt-reason=<why>"`
		f[0].Hint = restart(object) + ` To scale it to zero on purpose, run ` + annotate
		if parentRead {
			f[0].Hint += ", then scale again"
		} else {
			f[0].Hint += " unless " + object + ` has it, then "kubectl patch ` + object + ` -p '{"spec":{"replicas":0}}'": ` +
				"a Scale carries no annotations and gracekeeper could not read " + object + "'s"
		}
		return f
	}
	const ownedByRollout = `{metadata: {ownerReferences: [{apiVersion: argoproj.io/v1alpha1, kind: Rollout, name: web, uid: 1b3f, controller: true}]}}`
	withParent := func(r *Review, parent runtime.Object) *Review {
		r.Parent = parent
		return r
	}
	const exemptScaleToZero = `{metadata: {annotations: {gracekeeper.io/exempt: scale-to-zero, gracekeeper.io/exempt-reason: nightly stop}}}`

	runRuleCases(t, RuleScaleToZero, []ruleCase{
		{
			name:   "A Deployment UPDATE from 3 replicas to 0 is denied, and the hint names the exemption annotation.",
			review: update(deployment(t), deployment(t, zero)),
			want:   deniedFor("deployment/nginx", 3),
		},
		{
			name:   "kubectl scale, a Scale sent to deployments/scale, from 3 to 0 is denied; unread, the hint says to patch the object.",
			review: scaleUpdate("Deployment", "nginx", 3, 0),
			want:   onScale("deployment/nginx", 3, false),
		},
		{
			name:   "A Scale sent to statefulsets/scale from 2 to 0 is denied; the restart names what OnDelete changes, which a Scale does not show.",
			review: scaleUpdate("StatefulSet", "db", 2, 0),
			want: func() []Finding {
				f := onScale("statefulset/db", 2, false)
				f[0].Hint = strings.Replace(f[0].Hint, `restart statefulset/db".`, `restart statefulset/db"; if statefulset/db has updateStrategy OnDelete, `+
					`that changes no pod: delete its pods one at a time, waiting for each new pod to be Ready instead.`, 1)
				return f
			}(),
		},
		{
			name:   "kubectl scale to 0 of a Deployment read without the annotation is denied; the hint says annotate, then scale again.",
			review: withParent(scaleUpdate("Deployment", "nginx", 3, 0), deployment(t)),
			want:   onScale("deployment/nginx", 3, true),
		},
		{
			// Issue 10 item 8: the exemption loop. The annotation on the workload, read by the webhook, is honoured.
			name:   "kubectl scale to 0 of a Deployment annotated to exempt scale-to-zero passes.",
			review: withParent(scaleUpdate("Deployment", "nginx", 3, 0), deployment(t, exemptScaleToZero)),
		},
		{
			name:   "kubectl scale rs --replicas=0 of an orphaned ReplicaSet is denied.",
			review: scaleUpdate("ReplicaSet", "nginx-7c5ddbdf54", 3, 0),
			want:   onScale("replicaset/nginx-7c5ddbdf54", 3, false),
		},
		{
			name:   "kubectl scale rs --replicas=0 of a Deployment's ReplicaSet (read) names the Deployment's rollout restart.",
			review: withParent(scaleUpdate("ReplicaSet", "nginx-7c5ddbdf54", 3, 0), replicaSet(t, ownedByDeployment)),
			want: []Finding{{Rule: RuleScaleToZero, Action: ActionDeny, Object: "replicaset/nginx-7c5ddbdf54", Field: "/spec/replicas",
				Message: "scaling replicaset/nginx-7c5ddbdf54 from 3 to 0 replicas stops the service",
				Hint: `To restart, use "kubectl rollout restart deployment/nginx". To scale it to zero on purpose, run ` +
					`"kubectl annotate replicaset/nginx-7c5ddbdf54 gracekeeper.io/exempt=scale-to-zero gracekeeper.io/exempt-reason=<why>", then scale again`}},
		},
		{
			name:   "A ReplicaSet UPDATE to 0 replicas is denied.",
			review: update(replicaSet(t), replicaSet(t, zero)),
			want:   deniedFor("replicaset/nginx-7c5ddbdf54", 3),
		},
		{
			name: "The deployment controller scaling an old ReplicaSet to 0 in a rollout passes.",
			review: by(UserInfo{Username: "system:serviceaccount:kube-system:deployment-controller"},
				update(replicaSet(t), replicaSet(t, zero))),
		},
		{
			name: "Argo Rollouts scaling an old ReplicaSet of its Rollout to 0 at a rollout step passes: the owner's own rollout.",
			review: by(UserInfo{Username: "system:serviceaccount:argo-rollouts:argo-rollouts"},
				update(replicaSet(t, ownedByRollout), replicaSet(t, ownedByRollout, zero))),
		},
		{
			name:   "A person scaling a Rollout's ReplicaSet to 0 is still denied, naming the Argo Rollouts restart.",
			review: update(replicaSet(t, ownedByRollout), replicaSet(t, ownedByRollout, zero)),
			want: func() []Finding {
				f := deniedFor("replicaset/nginx-7c5ddbdf54", 3)
				f[0].Hint = `To restart, use "kubectl argo rollouts restart web". ` + f[0].Hint[strings.Index(f[0].Hint, "To scale"):]
				return f
			}(),
		},
		{
			name: "A service account scaling a bare ReplicaSet to 0 is denied: no owner rolls it.",
			review: by(UserInfo{Username: "system:serviceaccount:ci:deployer"},
				update(replicaSet(t), replicaSet(t, zero))),
			want: deniedFor("replicaset/nginx-7c5ddbdf54", 3),
		},
		{
			name:   "A StatefulSet UPDATE to 0 replicas is denied.",
			review: update(statefulSet(t), statefulSet(t, zero)),
			want:   deniedFor("statefulset/db", 3),
		},
		{
			name:   "Absent replicas mean 1, so setting 0 is a scale to zero.",
			review: update(deployment(t, `{spec: {replicas: null}}`), deployment(t, zero)),
			want:   deniedFor("deployment/nginx", 1),
		},
		{
			name:   "A scale from 0 to 0 changes nothing and passes.",
			review: scaleUpdate("Deployment", "nginx", 0, 0),
		},
		{
			name:   "A scale from 0 to 3 passes.",
			review: update(deployment(t, zero), deployment(t)),
		},
		{
			name:   "A scale from 3 to 1 passes.",
			review: scaleUpdate("Deployment", "nginx", 3, 1),
		},
		{
			name:   "Creating a Deployment with 0 replicas passes: nothing was running.",
			review: create(deployment(t, zero)),
		},
		{
			name:   "A Deployment annotated to exempt scale-to-zero may be scaled to 0 (a real decommission).",
			review: update(deployment(t), deployment(t, zero, `{metadata: {annotations: {gracekeeper.io/exempt: scale-to-zero, gracekeeper.io/exempt-reason: decommissioned}}}`)),
		},
		{
			name:   "An autoscaler's service account exempted in the configuration may scale to 0.",
			engine: newEngine(t, "exemptions: [{rules: [scale-to-zero], serviceAccounts: [keda/keda-operator]}]", currentServer),
			review: by(UserInfo{Username: "system:serviceaccount:keda:keda-operator"}, scaleUpdate("Deployment", "nginx", 3, 0)),
		},
	})
}
