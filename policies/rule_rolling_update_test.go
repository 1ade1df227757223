package policies

import "testing"

func TestRollingUpdate(t *testing.T) {
	const maxUnavailable = "/spec/strategy/rollingUpdate/maxUnavailable"
	setToZero := func(from string, replicas int, ops ...PatchOp) []Finding {
		return []Finding{{Rule: RuleRollingUpdate, Action: ActionPatch, Object: "deployment/nginx", Patch: ops,
			Message: "set maxUnavailable from " + from + " to 0 (maxSurge 25%) so a rollout keeps " + allReplicas(int32(replicas)) + " up"}}
	}
	const allDown = `{spec: {strategy: {type: RollingUpdate, rollingUpdate: {maxUnavailable: 100%}}}}`
	const pvc = `
spec:
  template:
    spec:
      volumes:
      - {name: data, persistentVolumeClaim: {claimName: nginx-data}}
`
	const hostPort = `
spec:
  template:
    spec:
      containers:
      - {name: nginx, image: "nginx:1.18", ports: [{containerPort: 80, hostPort: 8080}]}
`

	runRuleCases(t, RuleRollingUpdate, []ruleCase{
		{
			name:   "maxUnavailable 100% lets every replica go down and is replaced by 0.",
			review: create(deployment(t, allDown)),
			want:   setToZero("100%", 3, op("replace", maxUnavailable, "0")),
		},
		{
			name:   "maxUnavailable equal to the replicas is replaced by 0.",
			review: create(deployment(t, `{spec: {strategy: {rollingUpdate: {maxUnavailable: 3}}}}`)),
			want:   setToZero("3", 3, op("replace", maxUnavailable, "0")),
		},
		{
			name:   "maxUnavailable above the replicas is replaced by 0.",
			review: create(deployment(t, `{spec: {strategy: {rollingUpdate: {maxUnavailable: 5}}}}`)),
			want:   setToZero("5", 3, op("replace", maxUnavailable, "0")),
		},
		{
			name:   "A percentage rounds down like the deployment controller's: 90% of 4 replicas is 3, so it is untouched.",
			review: create(deployment(t, `{spec: {replicas: 4, strategy: {rollingUpdate: {maxUnavailable: 90%}}}}`)),
		},
		{
			name:   "maxUnavailable 25% keeps replicas up and is untouched.",
			review: create(deployment(t, `{spec: {strategy: {type: RollingUpdate, rollingUpdate: {maxUnavailable: 25%, maxSurge: 25%}}}}`)),
		},
		{
			name:   "maxUnavailable below the replicas is untouched.",
			review: create(deployment(t, `{spec: {strategy: {rollingUpdate: {maxUnavailable: 2}}}}`)),
		},
		{
			name:   "A Deployment scaled to 0 replicas has nothing to keep up and is skipped.",
			review: create(deployment(t, `{spec: {replicas: 0, strategy: {rollingUpdate: {maxUnavailable: 100%}}}}`)),
		},
		{
			name:   "Absent replicas mean 1, so maxUnavailable 1 lets the only replica go down.",
			review: create(deployment(t, `{spec: {replicas: null, strategy: {rollingUpdate: {maxUnavailable: 1}}}}`)),
			want:   setToZero("1", 1, op("replace", maxUnavailable, "0")),
		},
		{
			name:   "maxSurge 0 is replaced too, since maxUnavailable and maxSurge may not both be 0.",
			review: create(deployment(t, `{spec: {strategy: {rollingUpdate: {maxUnavailable: 100%, maxSurge: 0}}}}`)),
			want: setToZero("100%", 3, op("replace", maxUnavailable, "0"),
				op("replace", "/spec/strategy/rollingUpdate/maxSurge", `"25%"`)),
		},
		{
			name:   "maxSurge 0% is replaced too.",
			review: create(deployment(t, `{spec: {strategy: {rollingUpdate: {maxUnavailable: 3, maxSurge: 0%}}}}`)),
			want: setToZero("3", 3, op("replace", maxUnavailable, "0"),
				op("replace", "/spec/strategy/rollingUpdate/maxSurge", `"25%"`)),
		},
		{
			name:   "A maxSurge that can surge is kept, and the message says so.",
			review: create(deployment(t, `{spec: {strategy: {rollingUpdate: {maxUnavailable: 100%, maxSurge: 2}}}}`)),
			want: []Finding{{Rule: RuleRollingUpdate, Action: ActionPatch, Object: "deployment/nginx",
				Message: "set maxUnavailable from 100% to 0 (maxSurge 2) so a rollout keeps all 3 replicas up",
				Patch:   []PatchOp{op("replace", maxUnavailable, "0")}}},
		},
		{
			name:   "The configured maxSurge is the one set.",
			engine: newEngine(t, "rollingUpdate: {maxSurge: 1}", currentServer),
			review: create(deployment(t, `{spec: {strategy: {rollingUpdate: {maxUnavailable: 100%, maxSurge: 0}}}}`)),
			want: []Finding{{Rule: RuleRollingUpdate, Action: ActionPatch, Object: "deployment/nginx",
				Message: "set maxUnavailable from 100% to 0 (maxSurge 1) so a rollout keeps all 3 replicas up",
				Patch:   []PatchOp{op("replace", maxUnavailable, "0"), op("replace", "/spec/strategy/rollingUpdate/maxSurge", "1")}}},
		},
		{
			name:   "A strategy without a type is a RollingUpdate.",
			review: create(deployment(t, `{spec: {strategy: {rollingUpdate: {maxUnavailable: 100%}}}}`)),
			want:   setToZero("100%", 3, op("replace", maxUnavailable, "0")),
		},
		{
			name:   "An absent strategy, as in a manifest for check, is the API default 25% and is untouched.",
			review: create(deployment(t, `{spec: {strategy: null}}`)),
		},
		{
			name:   "A RollingUpdate without rollingUpdate values is the API default 25% and is untouched.",
			review: create(deployment(t, `{spec: {strategy: {type: RollingUpdate}}}`)),
		},
		{
			name:   "A Recreate strategy is left to recreate-strategy.",
			review: create(deployment(t, `{spec: {strategy: {type: Recreate}}}`)),
		},
		{
			name:   "An UPDATE that sets maxUnavailable 100% is patched too.",
			review: update(deployment(t), deployment(t, allDown)),
			want:   setToZero("100%", 3, op("replace", maxUnavailable, "0")),
		},
		{
			name:   "A pod template that mounts a PersistentVolumeClaim cannot surge, so it is only warned about.",
			review: create(deployment(t, allDown, pvc)),
			want: []Finding{{Rule: RuleRollingUpdate, Action: ActionWarn, Object: "deployment/nginx",
				Message: "maxUnavailable 100% lets all 3 replicas go down at once; left as is because the pod mounts PersistentVolumeClaim nginx-data and cannot surge"}},
		},
		{
			name:   "A pod template that uses a hostPort cannot surge, so it is only warned about.",
			review: create(deployment(t, allDown, hostPort)),
			want: []Finding{{Rule: RuleRollingUpdate, Action: ActionWarn, Object: "deployment/nginx",
				Message: "maxUnavailable 100% lets all 3 replicas go down at once; left as is because the pod uses hostPort 8080 and cannot surge"}},
		},
		{
			name:   "With action deny the Deployment is denied, naming the values to set.",
			engine: newEngine(t, "rollingUpdate: {action: deny}", currentServer),
			review: create(deployment(t, allDown)),
			want: []Finding{{Rule: RuleRollingUpdate, Action: ActionDeny, Object: "deployment/nginx",
				Message: "maxUnavailable 100% lets all 3 replicas go down at once",
				Hint:    "Set spec.strategy.rollingUpdate.maxUnavailable: 0 and maxSurge: 25%"}},
		},
		{
			name:   "With action warn the Deployment is only warned about.",
			engine: newEngine(t, "rollingUpdate: {action: warn}", currentServer),
			review: create(deployment(t, allDown)),
			want: []Finding{{Rule: RuleRollingUpdate, Action: ActionWarn, Object: "deployment/nginx",
				Message: "maxUnavailable 100% lets all 3 replicas go down at once; use maxUnavailable: 0"}},
		},
		{
			name:   "A scale request is not judged here.",
			review: scaleUpdate("Deployment", "nginx", 3, 1),
		},
	})
}
