package policies

import (
	"testing"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/gracekeeper/gracekeeper/policies/policytest"
)

func TestScaleDown(t *testing.T) {
	warned := func(object string, from, to int32, cause string) []Finding {
		return []Finding{{Rule: RuleScaleDown, Action: ActionWarn, Object: object,
			Message: "scaling " + object + " from " + itoa(from) + " to " + itoa(to) + " replicas stops " + itoa(from-to) + " pods at once" + cause}}
	}
	const (
		clientSide = ": apply dropped spec.replicas (default 1); for an HPA, first remove it with kubectl apply edit-last-applied"
		serverSide = ": apply dropped spec.replicas (default 1); for an HPA, first apply it alone under another --field-manager"
	)
	// lastApplied is kubectl's annotation after a client-side apply, with or without replicas.
	lastApplied := func(replicas bool) string {
		spec := `{"selector":{"matchLabels":{"app":"nginx"}}}`
		if replicas {
			spec = `{"replicas":6,"selector":{"matchLabels":{"app":"nginx"}}}`
		}
		return `{metadata: {annotations: {kubectl.kubernetes.io/last-applied-configuration: '{"apiVersion":"apps/v1","kind":"Deployment","spec":` + spec + `}'}}}`
	}
	// applied is a server-side apply manager's entry, owning replicas or not.
	applied := func(manager string, replicas bool) string {
		fields := `{"f:spec":{"f:selector":{}}}`
		if replicas {
			fields = `{"f:spec":{"f:replicas":{},"f:selector":{}}}`
		}
		return `{metadata: {managedFields: [{manager: ` + manager + `, operation: Apply, apiVersion: apps/v1, fieldsType: FieldsV1, fieldsV1: ` + fields + `}]}}`
	}
	const six, one = `{spec: {replicas: 6}}`, `{spec: {replicas: 1}}`
	deny := newEngine(t, "scaleDown: deny", currentServer)

	runRuleCases(t, RuleScaleDown, []ruleCase{
		{
			name: "Argo Rollouts scaling down the ReplicaSet its Rollout owns passes: the owner's own rollout step.",
			review: by(UserInfo{Username: "system:serviceaccount:argo-rollouts:argo-rollouts"},
				update(replicaSet(t, `{metadata: {ownerReferences: [{apiVersion: argoproj.io/v1alpha1, kind: Rollout, name: web, uid: 1b3f, controller: true}]}, spec: {replicas: 6}}`),
					replicaSet(t, `{metadata: {ownerReferences: [{apiVersion: argoproj.io/v1alpha1, kind: Rollout, name: web, uid: 1b3f, controller: true}]}, spec: {replicas: 1}}`))),
		},
		{
			name:   "A person scaling a bare ReplicaSet from 6 to 1 is warned about.",
			review: update(replicaSet(t, `{spec: {replicas: 6}}`), replicaSet(t, `{spec: {replicas: 1}}`)),
			want: []Finding{{Rule: RuleScaleDown, Action: ActionWarn, Object: "replicaset/nginx-7c5ddbdf54", Field: "/spec/replicas",
				Message: "scaling replicaset/nginx-7c5ddbdf54 from 6 to 1 replicas stops 5 pods at once"}},
		},
		{
			name:   "A Deployment UPDATE from 6 to 2 replicas is warned about.",
			review: update(deployment(t, six), deployment(t, `{spec: {replicas: 2}}`)),
			want:   warned("deployment/nginx", 6, 2, ""),
		},
		{
			name:   "A client-side apply that dropped spec.replicas names the cause (field case 22).",
			review: update(deployment(t, six, lastApplied(true)), deployment(t, one, lastApplied(false))),
			want:   warned("deployment/nginx", 6, 1, clientSide),
		},
		{
			name:   "A server-side apply whose manager no longer owns spec.replicas names the cause.",
			review: update(deployment(t, six, applied("kubectl", true)), deployment(t, one, applied("kubectl", false))),
			want:   warned("deployment/nginx", 6, 1, serverSide),
		},
		{
			name:   "A client-side apply that sets a lower count itself is warned about without a cause.",
			review: update(deployment(t, six, lastApplied(true)), deployment(t, one, lastApplied(true))),
			want:   warned("deployment/nginx", 6, 1, ""),
		},
		{
			name:   "Another manager's server-side apply is not taken for the one that dropped replicas.",
			review: update(deployment(t, six, applied("argocd", true)), deployment(t, one, applied("kubectl", false))),
			want:   warned("deployment/nginx", 6, 1, ""),
		},
		{
			name:   "kubectl scale of a StatefulSet from 5 to 2 is warned about.",
			review: scaleUpdate("StatefulSet", "db", 5, 2),
			want:   warned("statefulset/db", 5, 2, ""),
		},
		{
			name:   "Scaling down by exactly half passes: half the pods still serve.",
			review: scaleUpdate("Deployment", "nginx", 6, 3),
		},
		{
			name:   "Scaling from 2 to 1 passes.",
			review: scaleUpdate("Deployment", "nginx", 2, 1),
		},
		{
			name:   "Scaling to 0 is scale-to-zero's, not scale-down's.",
			review: scaleUpdate("Deployment", "nginx", 6, 0),
		},
		{
			name:   "Scaling up passes.",
			review: update(deployment(t, one), deployment(t, six)),
		},
		{
			name:   "The horizontal-pod-autoscaler scaling down is a system actor's job and passes.",
			review: by(UserInfo{Username: "system:serviceaccount:kube-system:horizontal-pod-autoscaler"}, scaleUpdate("Deployment", "nginx", 6, 1)),
		},
		{
			name:   "With scaleDown: deny, the scale-down is denied, naming steps and the exemption.",
			engine: deny,
			review: update(deployment(t, six), deployment(t, one)),
			want: []Finding{{Rule: RuleScaleDown, Action: ActionDeny, Object: "deployment/nginx",
				Message: "scaling deployment/nginx from 6 to 1 replicas stops 5 pods at once",
				Hint: `Scale down in steps of at most half. To scale it down at once on purpose, run "kubectl annotate deployment/nginx ` +
					`gracekeeper.io/exempt=scale-down gracekeeper.io/exempt-reason=<why>", then "kubectl patch deployment/nginx -p '{"spec":{"replicas":1}}'"`}},
		},
		{
			name:   "With scaleDown: deny, kubectl scale of a Deployment annotated to exempt scale-down passes once the webhook read it.",
			engine: deny,
			review: func() *Review {
				r := scaleUpdate("Deployment", "nginx", 6, 1)
				r.Parent = runtime.Object(deployment(t, `{metadata: {annotations: {gracekeeper.io/exempt: scale-down, gracekeeper.io/exempt-reason: load test over}}}`))
				return r
			}(),
		},
	})
}

// TestScaleDownOfTheScaleSubresourceIsDenied: kubectl scale is a scale-down
// as an edit of replicas is; what audit mode answers (a would-deny warning)
// is admission's TestScaleDownInAuditModeWouldDeny.
func TestScaleDownOfTheScaleSubresourceIsDenied(t *testing.T) {
	engine := newEngine(t, "scaleDown: deny", currentServer)
	findings := only(RuleScaleDown, engine.Evaluate(scaleUpdate("Deployment", "nginx", 6, 1)))
	if len(findings) != 1 || findings[0].Action != ActionDeny || findings[0].Message != "scaling deployment/nginx from 6 to 1 replicas stops 5 pods at once" {
		t.Errorf("findings %s, want one scale-down denial", policytest.NormalJSON(t, findings))
	}
}

// TestDaemonSetNarrowedIsAScaleDown (field case N02): a DaemonSet scales down
// through its template's nodeSelector and required node affinity.
func TestDaemonSetNarrowedIsAScaleDown(t *testing.T) {
	const selector = `{spec: {template: {spec: {nodeSelector: {non-existing: "true"}}}}}`
	const pool = `{spec: {template: {spec: {nodeSelector: {pool: gpu}}}}}`
	const affinity = `{spec: {template: {spec: {affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: [{matchExpressions: [{key: pool, operator: In, values: [gpu]}]}]}}}}}}}`
	warned := func(message string) []Finding {
		return []Finding{{Rule: RuleScaleDown, Action: ActionWarn, Object: "daemonset/agent", Message: message}}
	}
	runRuleCases(t, RuleScaleDown, []ruleCase{
		{
			name:   "A nodeSelector pair no old selector had is warned about: the pods on nodes without it stop at once.",
			review: update(daemonSet(t), daemonSet(t, selector)),
			want:   warned(`nodeSelector non-existing=true is new: the DaemonSet controller deletes at once, outside maxUnavailable, the pod on each of its 4 nodes without that label`),
		},
		{
			name:   "A changed value is a new pair too.",
			review: update(daemonSet(t, pool), daemonSet(t, `{spec: {template: {spec: {nodeSelector: {pool: cpu}}}}}`)),
			want:   warned(`nodeSelector pool=cpu is new: the DaemonSet controller deletes at once, outside maxUnavailable, the pod on each of its 4 nodes without that label`),
		},
		{
			name:   "A changed required node affinity is warned about.",
			review: update(daemonSet(t), daemonSet(t, affinity)),
			want:   warned(`the required node affinity changed: the DaemonSet controller deletes at once, outside maxUnavailable, the pod on each of its 4 nodes it no longer admits`),
		},
		{
			name:   "Removing a pair widens the DaemonSet: nothing stops.",
			review: update(daemonSet(t, pool), daemonSet(t, `{spec: {template: {spec: {nodeSelector: null}}}}`)),
		},
		{
			name:   "An unchanged nodeSelector (an image update) passes.",
			review: update(daemonSet(t, pool), daemonSet(t, pool, `{spec: {template: {spec: {containers: [{name: agent, image: "fluent-bit:5"}]}}}}`)),
		},
		{
			name:   "A DaemonSet with no scheduled pods has none to stop.",
			review: update(daemonSet(t, `{status: {desiredNumberScheduled: 0}}`), daemonSet(t, selector)),
		},
		{
			name:   "A CREATE has no pods yet.",
			review: create(daemonSet(t, selector)),
		},
	})
}
