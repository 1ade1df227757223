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
		Hint:    `Use strategy RollingUpdate with maxUnavailable: 0 and maxSurge: 25%, and "kubectl rollout restart deployment/nginx" to restart. ` + manifestExemptHint(RuleRecreateStrategy, "keep Recreate (pods that must never run twice)")}}
	warned := []Finding{{Rule: RuleRecreateStrategy, Action: ActionWarn, Object: "deployment/nginx",
		Message: "strategy Recreate stops every pod before new ones start; switch to RollingUpdate with maxUnavailable: 0 and maxSurge: 25%"}}

	kept := func(why string, replicas int32) []Finding {
		return []Finding{{Rule: RuleRecreateStrategy, Action: ActionWarn, Object: "deployment/nginx",
			Message: "Recreate kept as " + why + ": each rollout takes " + allReplicas(replicas) + " down; " + downtimeAdvice(replicas)}}
	}
	operatorWarned := []Finding{{Rule: RuleRecreateStrategy, Action: ActionWarn, Object: "deployment/nginx",
		Message: "strategy Recreate stops every pod before new ones start; allowed because an operator manages it"}}
	const operatorOwned = `{metadata: {ownerReferences: [{apiVersion: ceph.rook.io/v1, kind: CephCluster, name: rook-ceph, uid: 11111111-2222-3333-4444-aaaaaaaaaaaa, controller: true}]}}`

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
			want:   kept("the pod mounts PersistentVolumeClaim nginx-data", 3),
		},
		{
			name:   "The PersistentVolumeClaim exception beats recreate: convert.",
			engine: newEngine(t, "recreate: convert", currentServer),
			review: create(deployment(t, recreate, pvc)),
			want:   kept("the pod mounts PersistentVolumeClaim nginx-data", 3),
		},
		{
			name: "A pod template that uses a hostPort keeps Recreate, with a warning: a second copy cannot start on the node.",
			review: create(deployment(t, recreate, `
spec:
  template:
    spec:
      containers:
      - {name: nginx, image: "nginx:1.18", ports: [{containerPort: 80, hostPort: 80}]}
`)),
			want: kept(`the pod uses hostPort 80 in container "nginx"`, 3),
		},
		{
			name:   "A hostNetwork pod template (no hostPort in the template) keeps Recreate too, and recreate: convert never rewrites it.",
			engine: newEngine(t, "recreate: convert", currentServer),
			review: create(deployment(t, recreate, `{spec: {template: {spec: {hostNetwork: true}}}}`)),
			want:   kept("the pod uses hostNetwork", 3),
		},
		{
			name:   "A one-GPU singleton keeps Recreate, with a warning that says the rollout takes it down and why (field case N01).",
			review: create(deployment(t, recreate, `{spec: {replicas: 1, template: {spec: {containers: [{name: nginx, image: "nginx:1.18", resources: {limits: {nvidia.com/gpu: 1}}}]}}}}`)),
			want:   kept(`the pod requests 1 nvidia.com/gpu in container "nginx"`, 1),
		},
		{
			name:   "An extended resource in requests counts like one in limits, whatever its vendor.",
			review: create(deployment(t, recreate, `{spec: {template: {spec: {containers: [{name: nginx, image: "nginx:1.18", resources: {requests: {amd.com/gpu: 2}}}]}}}}`)),
			want:   kept(`the pod requests 2 amd.com/gpu in container "nginx"`, 3),
		},
		{
			name:   "A read-write hostPath data directory keeps Recreate: two copies would share it.",
			review: create(deployment(t, recreate, hostPathData)),
			want:   kept("the pod mounts hostPath /var/lib/app", 3),
		},
		{
			name:   "Required anti-affinity on the hostname against the pod's own labels keeps Recreate.",
			review: create(deployment(t, recreate, antiAffinity)),
			want:   kept("the pod requires pod anti-affinity on kubernetes.io/hostname against its own labels", 3),
		},
		{
			name:   "A DRA claim made from a template is each pod's own device, so Recreate is kept.",
			review: create(deployment(t, recreate, `{spec: {template: {spec: {resourceClaims: [{name: gpu, resourceClaimTemplateName: one-gpu}]}}}}`)),
			want:   kept(`the pod claims its own devices through resourceClaims "gpu"`, 3),
		},
		{
			name:   "An operator's Recreate Deployment is allowed with a warning, as its OnDelete StatefulSet is (field case N09).",
			review: by(UserInfo{Username: "system:serviceaccount:rook-ceph:rook-ceph-system", Groups: []string{"system:serviceaccounts"}}, create(deployment(t, recreate, operatorOwned))),
			want:   operatorWarned,
		},
		{
			name:   "An operator's Recreate Deployment is never converted either.",
			engine: newEngine(t, "recreate: convert", currentServer),
			review: create(deployment(t, recreate, operatorOwned)),
			want:   operatorWarned,
		},
		{
			name:   "A Recreate Deployment being deleted (finalizer removal) only gets a warning.",
			review: update(deployment(t, `{spec: {strategy: {type: RollingUpdate}}}`), deployment(t, recreate, `{metadata: {deletionTimestamp: "2026-12-06T21:00:00Z"}}`)),
			want: []Finding{{Rule: RuleRecreateStrategy, Action: ActionWarn, Object: "deployment/nginx",
				Message: "strategy Recreate stops every pod before new ones start; allowed because it is being deleted"}},
		},
		{
			name:   "A read-only hostPath (a socket, /etc/localtime) does not stop a surge: Recreate is denied.",
			review: create(deployment(t, recreate, `{spec: {template: {spec: {volumes: [{name: tz, hostPath: {path: /etc/localtime}}], containers: [{name: nginx, image: "nginx:1.18", volumeMounts: [{name: tz, mountPath: /etc/localtime, readOnly: true}]}]}}}}`)),
			want:   denied,
		},
		{
			name:   "Anti-affinity against other pods' labels does not stop a surge: Recreate is denied.",
			review: create(deployment(t, recreate, `{spec: {template: {spec: {affinity: {podAntiAffinity: {requiredDuringSchedulingIgnoredDuringExecution: [{topologyKey: kubernetes.io/hostname, labelSelector: {matchLabels: {app: other}}}]}}}}}}`)),
			want:   denied,
		},
		{
			name:   "Native resources with a kubernetes.io prefix are not extended resources: Recreate is denied.",
			review: create(deployment(t, recreate, `{spec: {template: {spec: {containers: [{name: nginx, image: "nginx:1.18", resources: {limits: {cpu: 1, hugepages-2Mi: 2Mi, kubernetes.io/batch-cpu: 1}}}]}}}}`)),
			want:   denied,
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
