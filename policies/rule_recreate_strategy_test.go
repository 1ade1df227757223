package policies

import "testing"

func TestRecreateStrategy(t *testing.T) {
	const recreate = `{spec: {strategy: {type: Recreate}}}`
	const pvc = `
spec:
  template:
    spec:
      volumes:
      - {name: data, persistentVolumeClaim: {claimName: nginx-data}}
`
	denied := []Finding{{Rule: RuleRecreateStrategy, Action: ActionDeny, Object: "deployment/nginx",
		Message: "strategy Recreate stops every pod before new ones start",
		Hint:    `Use strategy RollingUpdate with maxUnavailable: 0 and maxSurge: 25%, and "kubectl rollout restart deployment/nginx" to restart`}}
	warned := []Finding{{Rule: RuleRecreateStrategy, Action: ActionWarn, Object: "deployment/nginx",
		Message: "strategy Recreate stops every pod before new ones start; switch to RollingUpdate with maxUnavailable: 0 and maxSurge: 25%"}}

	runRuleCases(t, RuleRecreateStrategy, []ruleCase{
		{
			name:   "A Deployment created with strategy Recreate is denied.",
			review: create(deployment(t, recreate)),
			want:   denied,
		},
		{
			name:   "An UPDATE that switches a Deployment to Recreate is denied.",
			review: update(deployment(t), deployment(t, recreate)),
			want:   denied,
		},
		{
			name:   "An UPDATE of a Deployment that already was Recreate only warns, so rollout restart keeps working (the ratchet).",
			review: update(deployment(t, recreate), deployment(t, recreate, `{spec: {template: {metadata: {annotations: {kubectl.kubernetes.io/restartedAt: "2026-11-27T05:00:00Z"}}}}}`)),
			want:   warned,
		},
		{
			name:   "The ratchet holds with recreate: convert too: a pre-existing Recreate Deployment is not rewritten.",
			engine: newEngine(t, "recreate: convert", currentServer),
			review: update(deployment(t, recreate), deployment(t, recreate)),
			want:   warned,
		},
		{
			name:   "With recreate: convert the strategy is replaced by a RollingUpdate that keeps every replica up.",
			engine: newEngine(t, "recreate: convert", currentServer),
			review: create(deployment(t, recreate)),
			want: []Finding{{Rule: RuleRecreateStrategy, Action: ActionPatch, Object: "deployment/nginx",
				Message: "convert strategy Recreate to RollingUpdate (maxUnavailable 0, maxSurge 25%)",
				Patch: []PatchOp{op("replace", "/spec/strategy/type", `"RollingUpdate"`),
					op("add", "/spec/strategy/rollingUpdate", `{"maxUnavailable":0,"maxSurge":"25%"}`)}}},
		},
		{
			name:   "With recreate: convert an UPDATE that switches to Recreate is converted.",
			engine: newEngine(t, "recreate: convert\nrollingUpdate: {maxSurge: 1}", currentServer),
			review: update(deployment(t), deployment(t, recreate)),
			want: []Finding{{Rule: RuleRecreateStrategy, Action: ActionPatch, Object: "deployment/nginx",
				Message: "convert strategy Recreate to RollingUpdate (maxUnavailable 0, maxSurge 1)",
				Patch: []PatchOp{op("replace", "/spec/strategy/type", `"RollingUpdate"`),
					op("add", "/spec/strategy/rollingUpdate", `{"maxUnavailable":0,"maxSurge":1}`)}}},
		},
		{
			name:   "With recreate: warn a new Recreate Deployment is only warned about.",
			engine: newEngine(t, "recreate: warn", currentServer),
			review: create(deployment(t, recreate)),
			want:   warned,
		},
		{
			name:   "A pod template that mounts a PersistentVolumeClaim may use Recreate, with a warning naming the trade-off.",
			review: create(deployment(t, recreate, pvc)),
			want: []Finding{{Rule: RuleRecreateStrategy, Action: ActionWarn, Object: "deployment/nginx",
				Message: "strategy Recreate allowed because the pod mounts PersistentVolumeClaim nginx-data; every rollout is an outage"}},
		},
		{
			name:   "The PersistentVolumeClaim exception beats recreate: convert.",
			engine: newEngine(t, "recreate: convert", currentServer),
			review: create(deployment(t, recreate, pvc)),
			want: []Finding{{Rule: RuleRecreateStrategy, Action: ActionWarn, Object: "deployment/nginx",
				Message: "strategy Recreate allowed because the pod mounts PersistentVolumeClaim nginx-data; every rollout is an outage"}},
		},
		{
			name: "A pod template that uses a hostPort is denied with the setting it can roll with: one pod at a time.",
			review: create(deployment(t, recreate, `
spec:
  template:
    spec:
      containers:
      - {name: nginx, image: "nginx:1.18", ports: [{containerPort: 80, hostPort: 80}]}
`)),
			want: []Finding{{Rule: RuleRecreateStrategy, Action: ActionDeny, Object: "deployment/nginx",
				Message: "strategy Recreate stops every pod before new ones start",
				Hint:    `Use strategy RollingUpdate with maxUnavailable: 1 and maxSurge: 0 (the pod uses hostPort 80 in container "nginx", so it cannot surge), and "kubectl rollout restart deployment/nginx" to restart`}},
		},
		{
			name:   "A hostNetwork pod template (no hostPort in the template) gets the same advice, never maxUnavailable 0.",
			review: create(deployment(t, recreate, `{spec: {template: {spec: {hostNetwork: true}}}}`)),
			want: []Finding{{Rule: RuleRecreateStrategy, Action: ActionDeny, Object: "deployment/nginx",
				Message: "strategy Recreate stops every pod before new ones start",
				Hint:    `Use strategy RollingUpdate with maxUnavailable: 1 and maxSurge: 0 (the pod uses hostNetwork, so it cannot surge), and "kubectl rollout restart deployment/nginx" to restart`}},
		},
		{
			name:   "With recreate: convert a hostNetwork Deployment becomes a RollingUpdate of one pod at a time.",
			engine: newEngine(t, "recreate: convert", currentServer),
			review: create(deployment(t, recreate, `{spec: {template: {spec: {hostNetwork: true}}}}`)),
			want: []Finding{{Rule: RuleRecreateStrategy, Action: ActionPatch, Object: "deployment/nginx",
				Message: "convert strategy Recreate to RollingUpdate (maxUnavailable 1, maxSurge 0)",
				Patch: []PatchOp{op("replace", "/spec/strategy/type", `"RollingUpdate"`),
					op("add", "/spec/strategy/rollingUpdate", `{"maxSurge":0,"maxUnavailable":1}`)}}},
		},
		{
			name:   "The ratchet warning for a hostNetwork Deployment names one pod at a time too.",
			review: update(deployment(t, recreate, `{spec: {template: {spec: {hostNetwork: true}}}}`), deployment(t, recreate, `{spec: {template: {spec: {hostNetwork: true}}}}`)),
			want: []Finding{{Rule: RuleRecreateStrategy, Action: ActionWarn, Object: "deployment/nginx",
				Message: "strategy Recreate stops every pod before new ones start; switch to RollingUpdate with maxUnavailable: 1 and maxSurge: 0 (the pod uses hostNetwork, so it cannot surge)"}},
		},
		{
			name:   "A RollingUpdate Deployment passes.",
			review: create(deployment(t, `{spec: {strategy: {type: RollingUpdate}}}`)),
		},
		{
			name:   "An UPDATE away from Recreate passes.",
			review: update(deployment(t, recreate), deployment(t)),
		},
		{
			name:   "Deleting a Recreate Deployment is not this rule's concern.",
			review: deleteOf(deployment(t, recreate, `{spec: {replicas: 0}}`), nil),
		},
	})
}
