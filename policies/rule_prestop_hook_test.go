package policies

import "testing"

func TestPreStopHook(t *testing.T) {
	const (
		nativeHook = `{"preStop":{"sleep":{"seconds":5}}}`
		execHook   = `{"preStop":{"exec":{"command":["sleep","5"]}}}`
	)
	nativeOnApp := []Finding{{Rule: RulePreStopHook, Action: ActionPatch, Object: "pod/web",
		Message: `add preStop sleep 5s to container "app"`,
		Patch:   []PatchOp{op("add", "/spec/containers/0/lifecycle", nativeHook)}}}
	execOnApp := []Finding{{Rule: RulePreStopHook, Action: ActionPatch, Object: "pod/web",
		Message: `add preStop exec "sleep 5" to container "app"`,
		Patch:   []PatchOp{op("add", "/spec/containers/0/lifecycle", execHook)}}}
	ownedBy := func(kind string) string {
		return `{metadata: {ownerReferences: [{apiVersion: batch/v1, kind: ` + kind + `, name: backup, uid: 9c1d, controller: true}]}}`
	}

	runRuleCases(t, RulePreStopHook, []ruleCase{
		{
			name:   "A container without a preStop hook gets the native sleep action on API server 1.37.",
			review: create(pod(t)),
			want:   nativeOnApp,
		},
		{
			name:   "API server 1.33.0 is the first version where auto picks the native sleep action.",
			engine: newEngine(t, "", "v1.33.0"),
			review: create(pod(t)),
			want:   nativeOnApp,
		},
		{
			name:   "Below API server 1.33, auto picks exec sleep, since older kubelets may lack the sleep action.",
			engine: execEngine(t),
			review: create(pod(t)),
			want:   execOnApp,
		},
		{
			name:   "An API server version that cannot be read falls back to exec sleep.",
			engine: newEngine(t, "", "unknown"),
			review: create(pod(t)),
			want:   execOnApp,
		},
		{
			name:   "The configuration's serverVersion overrides the discovered version.",
			engine: newEngine(t, `serverVersion: "1.32"`, currentServer),
			review: create(pod(t)),
			want:   execOnApp,
		},
		{
			name:   "preStop.action exec uses exec sleep even on a current API server.",
			engine: newEngine(t, "preStop: {action: exec}", currentServer),
			review: create(pod(t)),
			want:   execOnApp,
		},
		{
			name:   "preStop.action sleep forces the native action even below 1.33.",
			engine: newEngine(t, "preStop: {action: sleep}", oldServer),
			review: create(pod(t)),
			want:   nativeOnApp,
		},
		{
			name:   "preStop.sleepSeconds sets the delay.",
			engine: newEngine(t, "preStop: {sleepSeconds: 15}", currentServer),
			review: create(pod(t)),
			want: []Finding{{Rule: RulePreStopHook, Action: ActionPatch, Object: "pod/web",
				Message: `add preStop sleep 15s to container "app"`,
				Patch:   []PatchOp{op("add", "/spec/containers/0/lifecycle", `{"preStop":{"sleep":{"seconds":15}}}`)}}},
		},
		{
			name:   "preStop.sleepSeconds 0 adds no hook.",
			engine: newEngine(t, "preStop: {sleepSeconds: 0}", currentServer),
			review: create(pod(t)),
		},
		{
			name: "An existing preStop hook is never replaced; only the container without one gets a hook.",
			review: create(pod(t, `
spec:
  containers:
  - {name: app, image: shop:2, lifecycle: {preStop: {exec: {command: [/bin/drain]}}}}
  - {name: proxy, image: envoy:1.36}
`)),
			want: []Finding{{Rule: RulePreStopHook, Action: ActionPatch, Object: "pod/web",
				Message: `add preStop sleep 5s to container "proxy"`,
				Patch:   []PatchOp{op("add", "/spec/containers/1/lifecycle", nativeHook)}}},
		},
		{
			name: "A pod whose containers all have a preStop hook is left alone.",
			review: create(pod(t, `
spec:
  containers:
  - {name: app, image: shop:2, lifecycle: {preStop: {httpGet: {path: /drain, port: 8080}}}}
`)),
		},
		{
			name: "A container with a lifecycle but no preStop gets the hook added inside that lifecycle.",
			review: create(pod(t, `
spec:
  containers:
  - {name: app, image: shop:2, lifecycle: {postStart: {exec: {command: [/bin/warm-up]}}}}
`)),
			want: []Finding{{Rule: RulePreStopHook, Action: ActionPatch, Object: "pod/web",
				Message: `add preStop sleep 5s to container "app"`,
				Patch:   []PatchOp{op("add", "/spec/containers/0/lifecycle/preStop", `{"sleep":{"seconds":5}}`)}}},
		},
		{
			name: "Init containers get no hook: they finish before the pod serves.",
			review: create(pod(t, `
spec:
  initContainers:
  - {name: migrate, image: shop:2}
`)),
			want: nativeOnApp,
		},
		{
			name:   "A pod with restartPolicy OnFailure runs to completion and is skipped.",
			review: create(pod(t, `{spec: {restartPolicy: OnFailure}}`)),
		},
		{
			name:   "A pod with restartPolicy Never runs once and is skipped.",
			review: create(pod(t, `{spec: {restartPolicy: Never}}`)),
		},
		{
			name:   "A pod with restartPolicy Always gets a hook.",
			review: create(pod(t, `{spec: {restartPolicy: Always}}`)),
			want:   nativeOnApp,
		},
		{
			name:   "A mirror (static) pod is skipped: the kubelet owns it.",
			review: create(pod(t, `{metadata: {annotations: {kubernetes.io/config.mirror: 3f2a}}}`)),
		},
		{
			name:   "A pod owned by a Job is skipped, whatever its restartPolicy.",
			review: create(pod(t, ownedBy("Job"))),
		},
		{
			name:   "A pod owned by a CronJob is skipped.",
			review: create(pod(t, ownedBy("CronJob"))),
		},
		{
			name:   "With skipOwnerKinds emptied, a Job's pod that restarts Always gets a hook.",
			engine: newEngine(t, "preStop: {skipOwnerKinds: []}", currentServer),
			review: create(pod(t, ownedBy("Job"))),
			want:   nativeOnApp,
		},
		{
			name:   "skipOwnerKinds can name another controller kind, whose pods are then skipped.",
			engine: newEngine(t, "preStop: {skipOwnerKinds: [Workflow]}", currentServer),
			review: create(pod(t, ownedBy("Workflow"))),
		},
		{
			name:   "Only the controller owner's kind counts, not other owners.",
			review: create(pod(t, `{metadata: {ownerReferences: [{apiVersion: batch/v1, kind: Job, name: backup, uid: 9c1d}]}}`)),
			want:   nativeOnApp,
		},
		{
			name: "When termination-grace-period is exempted, the sleep is capped by the pod's grace period.",
			review: create(pod(t, `
metadata:
  annotations: {gracekeeper.io/exempt: termination-grace-period, gracekeeper.io/exempt-reason: fixed by the app}
spec: {terminationGracePeriodSeconds: 3}
`)),
			want: []Finding{{Rule: RulePreStopHook, Action: ActionPatch, Object: "pod/web",
				Message: `add preStop sleep 3s to container "app"`,
				Patch:   []PatchOp{op("add", "/spec/containers/0/lifecycle", `{"preStop":{"sleep":{"seconds":3}}}`)}}},
		},
		{
			name: "When termination-grace-period is exempted and the grace period is 0, no hook is added.",
			review: create(pod(t, `
metadata:
  annotations: {gracekeeper.io/exempt: termination-grace-period, gracekeeper.io/exempt-reason: fixed by the app}
spec: {terminationGracePeriodSeconds: 0}
`)),
		},
		{
			name: "When termination-grace-period is exempted, an absent grace period (30) leaves the sleep at 5.",
			review: create(pod(t, `
metadata:
  annotations: {gracekeeper.io/exempt: termination-grace-period, gracekeeper.io/exempt-reason: fixed by the app}
`)),
			want: nativeOnApp,
		},
		{
			name:   "When termination-grace-period is exempted for the requester, the sleep is capped too.",
			engine: newEngine(t, "exemptions: [{rules: [termination-grace-period], users: [alice@example.com]}]", currentServer),
			review: create(pod(t, `{spec: {terminationGracePeriodSeconds: 2}}`)),
			want: []Finding{{Rule: RulePreStopHook, Action: ActionPatch, Object: "pod/web",
				Message: `add preStop sleep 2s to container "app"`,
				Patch:   []PatchOp{op("add", "/spec/containers/0/lifecycle", `{"preStop":{"sleep":{"seconds":2}}}`)}}},
		},
		{
			name:   "Without the exemption, a short grace period does not cap the sleep: the grace period is raised instead.",
			review: create(pod(t, `{spec: {terminationGracePeriodSeconds: 2}}`)),
			want:   nativeOnApp,
		},
		{
			name:   "A pod annotated to exempt prestop-hook gets no hook.",
			review: create(pod(t, `{metadata: {annotations: {gracekeeper.io/exempt: prestop-hook}}}`)),
		},
		{
			name:   "A pod UPDATE is not judged: a pod's containers are immutable.",
			review: update(pod(t), pod(t, `{metadata: {labels: {tier: web}}}`)),
		},
		{
			name:   "A Deployment's template is reported for its pods, naming the Deployment, under /spec/template/spec.",
			review: create(deployment(t)),
			want: []Finding{{Rule: RulePreStopHook, Action: ActionPatch, Object: "deployment/nginx", OnPods: true,
				Message: `add preStop sleep 5s to container "nginx" in the pods of deployment/nginx`,
				Patch:   []PatchOp{op("add", "/spec/template/spec/containers/0/lifecycle", nativeHook)}}},
		},
		{
			name:   "A Deployment UPDATE reports its template too, in exec form below 1.33.",
			engine: execEngine(t),
			review: update(deployment(t), deployment(t, `{spec: {template: {spec: {containers: [{name: nginx, image: "nginx:1.19"}]}}}}`)),
			want: []Finding{{Rule: RulePreStopHook, Action: ActionPatch, Object: "deployment/nginx", OnPods: true,
				Message: `add preStop exec "sleep 5" to container "nginx" in the pods of deployment/nginx`,
				Patch:   []PatchOp{op("add", "/spec/template/spec/containers/0/lifecycle", execHook)}}},
		},
		{
			name:   "A StatefulSet's template is reported for its pods.",
			review: create(statefulSet(t)),
			want: []Finding{{Rule: RulePreStopHook, Action: ActionPatch, Object: "statefulset/db", OnPods: true,
				Message: `add preStop sleep 5s to container "postgres" in the pods of statefulset/db`,
				Patch:   []PatchOp{op("add", "/spec/template/spec/containers/0/lifecycle", nativeHook)}}},
		},
		{
			name:   "A DaemonSet's template is reported for its pods.",
			review: create(daemonSet(t)),
			want: []Finding{{Rule: RulePreStopHook, Action: ActionPatch, Object: "daemonset/agent", OnPods: true,
				Message: `add preStop sleep 5s to container "agent" in the pods of daemonset/agent`,
				Patch:   []PatchOp{op("add", "/spec/template/spec/containers/0/lifecycle", nativeHook)}}},
		},
		{
			name:   "A template annotated to exempt prestop-hook is skipped, since its pods inherit the annotation.",
			review: create(deployment(t, `{spec: {template: {metadata: {annotations: {gracekeeper.io/exempt: prestop-hook}}}}}`)),
		},
		{
			name: "A Job's template is skipped.",
			review: create(object(t, `
apiVersion: batch/v1
kind: Job
metadata: {name: backup, namespace: shop}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: backup, image: restic:0.18}]
`)),
		},
		{
			name: "A CronJob's template is skipped, even with restartPolicy Always.",
			review: create(object(t, `
apiVersion: batch/v1
kind: CronJob
metadata: {name: backup, namespace: shop}
spec:
  schedule: "@daily"
  jobTemplate:
    spec:
      template:
        spec:
          containers: [{name: backup, image: restic:0.18}]
`)),
		},
		{
			name:   "A DELETE carries no pod spec to judge.",
			review: deleteOf(pod(t), nil),
		},
		{
			name:   "A tcpSocket preStop hook, which the kubelet never runs, is replaced by the sleep, saying why.",
			review: create(pod(t, `{spec: {containers: [{name: app, image: "shop:2", lifecycle: {preStop: {tcpSocket: {port: 8080}}}}]}}`)),
			want: []Finding{{Rule: RulePreStopHook, Action: ActionPatch, Object: "pod/web",
				Message: `replace the preStop tcpSocket of container "app" with sleep 5s (the kubelet never runs a tcpSocket preStop hook)`,
				Patch:   []PatchOp{op("replace", "/spec/containers/0/lifecycle/preStop", `{"sleep":{"seconds":5}}`)}}},
		},
		{
			name:   "An existing sleep of 0 is the user's choice and is kept.",
			review: create(pod(t, `{spec: {containers: [{name: app, image: "shop:2", lifecycle: {preStop: {sleep: {seconds: 0}}}}]}}`)),
		},
		{
			name:   "A Windows pod gets the native sleep action, which the kubelet runs on Windows too.",
			review: create(pod(t, `{spec: {os: {name: windows}}}`)),
			want:   nativeOnApp,
		},
		{
			name:   "A Windows pod below API server 1.33 never gets exec sleep (Windows images have none): no hook, and a warning that says what to do (field case 01).",
			engine: execEngine(t),
			review: create(pod(t, `{spec: {os: {name: windows}}}`)),
			want:   []Finding{{Rule: RulePreStopHook, Action: ActionWarn, Object: "pod/web", Message: windowsNoHook}},
		},
		{
			name:   "A pod pinned to Windows nodes by the kubernetes.io/os selector alone is a Windows pod too.",
			engine: newEngine(t, "preStop: {action: exec}", currentServer),
			review: create(pod(t, `{spec: {nodeSelector: {kubernetes.io/os: windows}}}`)),
			want:   []Finding{{Rule: RulePreStopHook, Action: ActionWarn, Object: "pod/web", Message: windowsNoHook}},
		},
		{
			name:   "A Windows pod that would get no sleep anyway (preStop.sleepSeconds 0) gets no warning either.",
			engine: newEngine(t, "preStop: {sleepSeconds: 0}", oldServer),
			review: create(pod(t, `{spec: {os: {name: windows}}}`)),
		},
		{
			name:   "preStop.action sleep gives a Windows pod the native action below 1.33 too.",
			engine: newEngine(t, "preStop: {action: sleep}", oldServer),
			review: create(pod(t, `{spec: {os: {name: windows}}}`)),
			want:   nativeOnApp,
		},
	})
}
