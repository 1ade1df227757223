package policies

import "testing"

func TestUpdateStrategy(t *testing.T) {
	const onDelete = `{spec: {updateStrategy: {type: OnDelete}}}`
	const problem = "updateStrategy OnDelete never rolls out a change: pods update only when deleted"
	deniedFor := func(object string) []Finding {
		return []Finding{{Rule: RuleUpdateStrategy, Action: ActionDeny, Object: object, Message: problem,
			Hint: `Use updateStrategy RollingUpdate, and "kubectl rollout restart ` + object + `" to restart. ` + manifestExemptHint(RuleUpdateStrategy, "keep OnDelete (pods replaced one by one, by hand)")}}
	}
	warned := func(object, why string) []Finding {
		return []Finding{{Rule: RuleUpdateStrategy, Action: ActionWarn, Object: object, Message: problem + why}}
	}

	runRuleCases(t, RuleUpdateStrategy, []ruleCase{
		{
			name:   "A StatefulSet created with OnDelete is denied.",
			review: create(statefulSet(t, onDelete)),
			want:   deniedFor("statefulset/db"),
		},
		{
			name:   "A DaemonSet created with OnDelete is denied.",
			review: create(daemonSet(t, onDelete)),
			want:   deniedFor("daemonset/agent"),
		},
		{
			name:   "An UPDATE that switches a StatefulSet to OnDelete is denied.",
			review: update(statefulSet(t), statefulSet(t, onDelete)),
			want:   deniedFor("statefulset/db"),
		},
		{
			name:   "An UPDATE that switches a DaemonSet from RollingUpdate to OnDelete is denied.",
			review: update(daemonSet(t, `{spec: {updateStrategy: {type: RollingUpdate}}}`), daemonSet(t, onDelete)),
			want:   deniedFor("daemonset/agent"),
		},
		{
			name:   "An UPDATE of a StatefulSet that already was OnDelete only warns (the ratchet).",
			review: update(statefulSet(t, onDelete), statefulSet(t, onDelete, `{spec: {replicas: 5}}`)),
			want:   warned("statefulset/db", "; switch to RollingUpdate"),
		},
		{
			name: "A StatefulSet with a controller ownerReference is managed by an operator and only warned about.",
			review: create(statefulSet(t, onDelete, `
metadata:
  ownerReferences:
  - {apiVersion: postgresql.cnpg.io/v1, kind: Cluster, name: db, uid: 5e1f, controller: true}
`)),
			want: warned("statefulset/db", "; allowed because an operator manages it"),
		},
		{
			name: "An ownerReference that is not a controller does not make an operator.",
			review: create(statefulSet(t, onDelete, `
metadata:
  ownerReferences:
  - {apiVersion: v1, kind: ConfigMap, name: db-config, uid: 5e1f}
`)),
			want: deniedFor("statefulset/db"),
		},
		{
			name:   "An object that already has a deletionTimestamp only gets a warning, so its finalizers can be removed.",
			review: update(daemonSet(t), daemonSet(t, onDelete, `{metadata: {deletionTimestamp: "2026-11-27T05:00:00Z"}}`)),
			want:   warned("daemonset/agent", "; allowed because it is being deleted"),
		},
		{
			name:   "A StatefulSet with RollingUpdate passes.",
			review: create(statefulSet(t, `{spec: {updateStrategy: {type: RollingUpdate}}}`)),
		},
		{
			name:   "A StatefulSet without an updateStrategy (RollingUpdate by default) passes.",
			review: create(statefulSet(t)),
		},
		{
			name:   "A StatefulSet annotated to exempt update-strategy passes.",
			review: create(statefulSet(t, onDelete, `{metadata: {annotations: {gracekeeper.io/exempt: update-strategy, gracekeeper.io/exempt-reason: manual upgrades}}}`)),
		},
		{
			name:   "Scaling an OnDelete StatefulSet through /scale is not this rule's concern.",
			review: scaleUpdate("StatefulSet", "db", 3, 4),
		},
	})
}
