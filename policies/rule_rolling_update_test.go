package policies

import (
	"strings"
	"testing"
)

func TestRollingUpdate(t *testing.T) {
	const maxUnavailable = "/spec/strategy/rollingUpdate/maxUnavailable"
	setToZero := func(from string, replicas int, ops ...PatchOp) []Finding {
		return []Finding{{Rule: RuleRollingUpdate, Action: ActionPatch, Object: "deployment/nginx", Patch: ops,
			Message: "set maxUnavailable from " + from + " to 0 (maxSurge 25%) so a rollout keeps " + allReplicas(int32(replicas)) + " up"}}
	}
	const maxSurge = "/spec/strategy/rollingUpdate/maxSurge"
	oneAtATime := func(ops ...PatchOp) []Finding {
		return []Finding{{Rule: RuleRollingUpdate, Action: ActionPatch, Object: "deployment/nginx", Patch: ops,
			Message: "set maxUnavailable from 100% to 1 and maxSurge to 0 so a rollout replaces one pod at a time"}}
	}
	const allDown = `{spec: {strategy: {type: RollingUpdate, rollingUpdate: {maxUnavailable: 100%}}}}`
	const hostNetwork = `{spec: {template: {spec: {hostNetwork: true}}}}`
	const sidecarHostPort = `
spec:
  template:
    spec:
      initContainers:
      - {name: proxy, image: proxy, restartPolicy: Always, ports: [{containerPort: 15001, hostPort: 15001}]}
`
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
				Message: "maxUnavailable 100% lets all 3 replicas go down at once; kept as the pod mounts PersistentVolumeClaim nginx-data; " + downtimeAdvice(3)}},
		},
		{
			name:   "A pod template that uses a hostPort cannot surge, so it rolls one pod at a time.",
			review: create(deployment(t, allDown, hostPort)),
			want:   oneAtATime(op("replace", maxUnavailable, "1"), op("add", maxSurge, "0")),
		},
		{
			name:   "A hostNetwork template has no hostPort (the API server fills it in on Pods only), and cannot surge either.",
			review: create(deployment(t, allDown, hostNetwork)),
			want:   oneAtATime(op("replace", maxUnavailable, "1"), op("add", maxSurge, "0")),
		},
		{
			name:   "A hostPort on a native sidecar stops a surge too.",
			review: create(deployment(t, allDown, sidecarHostPort)),
			want:   oneAtATime(op("replace", maxUnavailable, "1"), op("add", maxSurge, "0")),
		},
		{
			name:   "A hostPort on a plain init container stops a surge too.",
			review: create(deployment(t, allDown, `{spec: {template: {spec: {initContainers: [{name: setup, image: busybox, ports: [{containerPort: 9, hostPort: 9}]}]}}}}`)),
			want:   oneAtATime(op("replace", maxUnavailable, "1"), op("add", maxSurge, "0")),
		},
		{
			name:   "A present non-zero maxSurge of pods that cannot surge is replaced by 0.",
			review: create(deployment(t, `{spec: {strategy: {rollingUpdate: {maxUnavailable: 3, maxSurge: 1}}}}`, hostNetwork)),
			want: []Finding{{Rule: RuleRollingUpdate, Action: ActionPatch, Object: "deployment/nginx",
				Message: "set maxUnavailable from 3 to 1 and maxSurge to 0 so a rollout replaces one pod at a time",
				Patch:   []PatchOp{op("replace", maxUnavailable, "1"), op("replace", maxSurge, "0")}}},
		},
		{
			name:   "A single hostNetwork replica with maxSurge 0 and maxUnavailable 1 is the user's choice: kept, with a warning about the downtime (field case 02).",
			review: create(deployment(t, `{spec: {replicas: 1, strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 0, maxUnavailable: 1}}}}`, hostNetwork)),
			want: []Finding{{Rule: RuleRollingUpdate, Action: ActionWarn, Object: "deployment/nginx",
				Message: "maxUnavailable 1 lets the 1 replica go down at once; kept as the pod uses hostNetwork; " + downtimeAdvice(1)}},
		},
		{
			name:   "Pods that cannot surge with maxUnavailable resolving to 0 are warned about: the surge pod needs free ports.",
			review: create(deployment(t, `{spec: {strategy: {rollingUpdate: {maxUnavailable: 0, maxSurge: 1}}}}`, hostNetwork)),
			want: []Finding{{Rule: RuleRollingUpdate, Action: ActionWarn, Object: "deployment/nginx",
				Message: "maxUnavailable 0 resolves to 0 with maxSurge 1, but the pod uses hostNetwork: each surge pod needs a node whose ports are free, or the rollout hangs; set maxUnavailable: 1 and maxSurge: 0, or keep spare capacity"}},
		},
		{
			name:   "With action deny, pods that cannot surge are told to roll one pod at a time.",
			engine: newEngine(t, "rollingUpdate: {action: deny}", currentServer),
			review: create(deployment(t, allDown, hostNetwork)),
			want: []Finding{{Rule: RuleRollingUpdate, Action: ActionDeny, Object: "deployment/nginx",
				Message: "maxUnavailable 100% lets all 3 replicas go down at once and the pod uses hostNetwork, so it cannot surge",
				Hint:    "Set spec.strategy.rollingUpdate.maxUnavailable: 1 and maxSurge: 0. " + manifestExemptHint(RuleRollingUpdate, "keep this strategy")}},
		},
		{
			name:   "With action deny the Deployment is denied, naming the values to set.",
			engine: newEngine(t, "rollingUpdate: {action: deny}", currentServer),
			review: create(deployment(t, allDown)),
			want: []Finding{{Rule: RuleRollingUpdate, Action: ActionDeny, Object: "deployment/nginx",
				Message: "maxUnavailable 100% lets all 3 replicas go down at once",
				Hint:    "Set spec.strategy.rollingUpdate.maxUnavailable: 0 and maxSurge: 25%. " + manifestExemptHint(RuleRollingUpdate, "keep this strategy")}},
		},
		{
			name:   "With action warn the Deployment is only warned about.",
			engine: newEngine(t, "rollingUpdate: {action: warn}", currentServer),
			review: create(deployment(t, allDown)),
			want: []Finding{{Rule: RuleRollingUpdate, Action: ActionWarn, Object: "deployment/nginx",
				Message: "maxUnavailable 100% lets all 3 replicas go down at once; set maxUnavailable: 0 and maxSurge: 25%"}},
		},
		{
			name:   "A GPU Deployment on the API default 25% surges one pod, which needs a free GPU: warned, not patched.",
			review: create(deployment(t, `{spec: {replicas: 1}}`, oneGPU)),
			want: []Finding{{Rule: RuleRollingUpdate, Action: ActionWarn, Object: "deployment/nginx",
				Message: `maxUnavailable 25% resolves to 0 with maxSurge 25%, but the pod requests 1 nvidia.com/gpu in container "nginx": each surge pod needs a free nvidia.com/gpu, or the rollout hangs; set maxUnavailable: 1 and maxSurge: 0, or keep spare capacity`}},
		},
		{
			name:   "A one-GPU singleton with maxSurge 0 is the user's choice: never rewritten into a surge, warned about the downtime.",
			review: create(deployment(t, `{spec: {replicas: 1, strategy: {rollingUpdate: {maxSurge: 0, maxUnavailable: 1}}}}`, oneGPU)),
			want: []Finding{{Rule: RuleRollingUpdate, Action: ActionWarn, Object: "deployment/nginx",
				Message: `maxUnavailable 1 lets the 1 replica go down at once; kept as the pod requests 1 nvidia.com/gpu in container "nginx"; ` + downtimeAdvice(1)}},
		},
		{
			name:   "maxSurge 0 with the default maxUnavailable on one replica resolves to 1 down (the fenceposts); pods that can surge get a surge.",
			review: create(deployment(t, `{spec: {replicas: 1, strategy: {rollingUpdate: {maxSurge: 0}}}}`)),
			want: []Finding{{Rule: RuleRollingUpdate, Action: ActionPatch, Object: "deployment/nginx",
				Message: "set maxUnavailable from 25% to 0 (maxSurge 25%) so a rollout keeps the 1 replica up",
				Patch:   []PatchOp{op("add", maxUnavailable, "0"), op("replace", maxSurge, `"25%"`)}}},
		},
		{
			name:   "Three GPU replicas at 100% roll one at a time, which needs no spare GPU.",
			review: create(deployment(t, allDown, oneGPU)),
			want: []Finding{{Rule: RuleRollingUpdate, Action: ActionPatch, Object: "deployment/nginx",
				Message: "set maxUnavailable from 100% to 1 and maxSurge to 0 so a rollout replaces one pod at a time",
				Patch:   []PatchOp{op("replace", maxUnavailable, "1"), op("add", maxSurge, "0")}}},
		},
		{
			name:   "An operator's Deployment is warned about, never patched: a patch would fight the operator's next write.",
			review: create(deployment(t, allDown, `{metadata: {ownerReferences: [{apiVersion: example.com/v1, kind: App, name: web, uid: u1, controller: true}]}}`)),
			want: []Finding{{Rule: RuleRollingUpdate, Action: ActionWarn, Object: "deployment/nginx",
				Message: "maxUnavailable 100% lets all 3 replicas go down at once; set maxUnavailable: 0 and maxSurge: 25% (left as is because an operator manages it)"}},
		},
		{
			name:   "An operator's Deployment is not denied either under action deny.",
			engine: newEngine(t, "rollingUpdate: {action: deny}", currentServer),
			review: create(deployment(t, allDown, `{metadata: {ownerReferences: [{apiVersion: example.com/v1, kind: App, name: web, uid: u1, controller: true}]}}`)),
			want: []Finding{{Rule: RuleRollingUpdate, Action: ActionWarn, Object: "deployment/nginx",
				Message: "maxUnavailable 100% lets all 3 replicas go down at once; set maxUnavailable: 0 and maxSurge: 25% (left as is because an operator manages it)"}},
		},
		{
			name:   "A scale request is not judged here.",
			review: scaleUpdate("Deployment", "nginx", 3, 1),
		},
	})
}

func TestRollingUpdateOfStatefulSetsAndDaemonSets(t *testing.T) {
	const stsMaxUnavailable = "/spec/updateStrategy/rollingUpdate/maxUnavailable"
	const dsMaxSurge = "/spec/updateStrategy/rollingUpdate/maxSurge"
	oneAtATime := func(ref, from string, ops ...PatchOp) []Finding {
		msg := "set maxUnavailable from " + from + " to 1 and maxSurge to 0 so a rollout replaces one pod at a time"
		if strings.HasPrefix(ref, "statefulset/") {
			msg = "set maxUnavailable from " + from + " to 1 so a rollout replaces one pod at a time"
		}
		return []Finding{{Rule: RuleRollingUpdate, Action: ActionPatch, Object: ref, Message: msg, Patch: ops}}
	}
	const stsAll = `{spec: {updateStrategy: {type: RollingUpdate, rollingUpdate: {maxUnavailable: 100%}}}}`
	const dsAll = `{spec: {updateStrategy: {type: RollingUpdate, rollingUpdate: {maxUnavailable: 100%}}}}`
	const hostNetwork = `{spec: {template: {spec: {hostNetwork: true}}}}`

	runRuleCases(t, RuleRollingUpdate, []ruleCase{
		{
			name:   "A StatefulSet with maxUnavailable 100% takes every pod down at once and gets 1: StatefulSets never surge (field case 05).",
			review: create(statefulSet(t, stsAll)),
			want:   oneAtATime("statefulset/db", "100%", op("replace", stsMaxUnavailable, "1")),
		},
		{
			name:   "A StatefulSet maxUnavailable equal to its replicas gets 1.",
			review: create(statefulSet(t, `{spec: {updateStrategy: {rollingUpdate: {maxUnavailable: 3}}}}`)),
			want:   oneAtATime("statefulset/db", "3", op("replace", stsMaxUnavailable, "1")),
		},
		{
			name:   "A StatefulSet percentage rounds down like the controller's: 90% of 3 is 2, which keeps a pod up.",
			review: create(statefulSet(t, `{spec: {updateStrategy: {rollingUpdate: {maxUnavailable: 90%}}}}`)),
		},
		{
			name:   "A StatefulSet partition keeps the pods below it on their revision and up, so 100% is left alone.",
			review: create(statefulSet(t, `{spec: {updateStrategy: {rollingUpdate: {maxUnavailable: 100%, partition: 1}}}}`)),
		},
		{
			name:   "A StatefulSet of one replica always takes it down; there is nothing safer to ask for.",
			review: create(statefulSet(t, stsAll, `{spec: {replicas: 1}}`)),
		},
		{
			name:   "A StatefulSet without maxUnavailable rolls one pod at a time by default.",
			review: create(statefulSet(t, `{spec: {updateStrategy: {type: RollingUpdate}}}`)),
		},
		{
			name:   "A StatefulSet with OnDelete is left to update-strategy.",
			review: create(statefulSet(t, `{spec: {updateStrategy: {type: OnDelete}}}`)),
		},
		{
			name:   "A DaemonSet with maxUnavailable 100% takes the pod on every node down at once and gets 1 (field case 05).",
			review: create(daemonSet(t, dsAll)),
			want:   oneAtATime("daemonset/agent", "100%", op("replace", "/spec/updateStrategy/rollingUpdate/maxUnavailable", "1")),
		},
		{
			name:   "A DaemonSet count is judged against the nodes its status names: 4 of 4.",
			review: create(daemonSet(t, `{spec: {updateStrategy: {rollingUpdate: {maxUnavailable: 4}}}}`)),
			want:   oneAtATime("daemonset/agent", "4", op("replace", "/spec/updateStrategy/rollingUpdate/maxUnavailable", "1")),
		},
		{
			name:   "A DaemonSet percentage rounds up like the controller's: 80% of 4 nodes is 4.",
			review: create(daemonSet(t, `{spec: {updateStrategy: {rollingUpdate: {maxUnavailable: 80%}}}}`)),
			want:   oneAtATime("daemonset/agent", "80%", op("replace", "/spec/updateStrategy/rollingUpdate/maxUnavailable", "1")),
		},
		{
			name:   "A DaemonSet count below its nodes is left alone.",
			review: create(daemonSet(t, `{spec: {updateStrategy: {rollingUpdate: {maxUnavailable: 2}}}}`)),
		},
		{
			name:   "A DaemonSet count is left alone when the node count is unknown.",
			review: create(daemonSet(t, `{spec: {updateStrategy: {rollingUpdate: {maxUnavailable: 4}}}, status: null}`)),
		},
		{
			name:   "A DaemonSet that surges keeps each node's pod until the new one is ready and is left alone.",
			review: create(daemonSet(t, `{spec: {updateStrategy: {rollingUpdate: {maxUnavailable: 0, maxSurge: 1}}}}`)),
		},
		{
			name:   "A hostNetwork DaemonSet cannot surge on its node: the rollout would hang, so it rolls one node at a time.",
			review: create(daemonSet(t, `{spec: {updateStrategy: {rollingUpdate: {maxUnavailable: 0, maxSurge: 1}}}}`, hostNetwork)),
			want: []Finding{{Rule: RuleRollingUpdate, Action: ActionPatch, Object: "daemonset/agent",
				Message: "set maxUnavailable from 0 to 1 and maxSurge to 0 so a rollout replaces one pod at a time",
				Patch: []PatchOp{op("replace", "/spec/updateStrategy/rollingUpdate/maxUnavailable", "1"),
					op("replace", dsMaxSurge, "0")}}},
		},
		{
			name:   "With action deny the DaemonSet surge of host-bound pods is denied, saying why.",
			engine: newEngine(t, "rollingUpdate: {action: deny}", currentServer),
			review: create(daemonSet(t, `{spec: {updateStrategy: {rollingUpdate: {maxUnavailable: 0, maxSurge: 10%}}}}`, hostNetwork)),
			want: []Finding{{Rule: RuleRollingUpdate, Action: ActionDeny, Object: "daemonset/agent",
				Message: "maxSurge 10% starts a second pod on each node, which cannot run there because the pod uses hostNetwork: the rollout hangs",
				Hint:    "Set spec.updateStrategy.rollingUpdate.maxUnavailable: 1 and maxSurge: 0. " + manifestExemptHint(RuleRollingUpdate, "keep this strategy")}},
		},
		{
			name: "A GPU DaemonSet's surge pod needs a second GPU on the same node: warned, the user's maxSurge kept.",
			review: create(daemonSet(t, `{spec: {updateStrategy: {type: RollingUpdate, rollingUpdate: {maxUnavailable: 0, maxSurge: 1}}}}`,
				`{spec: {template: {spec: {containers: [{name: agent, image: fluent-bit:4, resources: {limits: {nvidia.com/gpu: 1}}}]}}}}`)),
			want: []Finding{{Rule: RuleRollingUpdate, Action: ActionWarn, Object: "daemonset/agent",
				Message: `maxSurge 1 starts a second pod on each node beside the first, but the pod requests 1 nvidia.com/gpu in container "agent": each one needs a free nvidia.com/gpu, or the rollout hangs; set maxUnavailable: 1 and maxSurge: 0, or keep a spare unit on every node`}},
		},
		{
			name:   "An UPDATE judges a DaemonSet by the stored object's node count when the new one has none.",
			review: update(daemonSet(t), daemonSet(t, `{spec: {updateStrategy: {rollingUpdate: {maxUnavailable: 4}}}, status: null}`)),
			want:   oneAtATime("daemonset/agent", "4", op("replace", "/spec/updateStrategy/rollingUpdate/maxUnavailable", "1")),
		},
	})
}
