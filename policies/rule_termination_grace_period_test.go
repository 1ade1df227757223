package policies

import "testing"

func TestTerminationGracePeriod(t *testing.T) {
	raise := func(op, path string, from, to, sleep int, object, suffix string) []Finding {
		return []Finding{{Rule: RuleTerminationGracePeriod, Action: ActionPatch, Object: object, OnPods: suffix != "",
			Message: "raise terminationGracePeriodSeconds from " + itoa(int32(from)) + " to " + itoa(int32(to)) +
				" (preStop " + itoa(int32(sleep)) + "s + shutdown 25s)" + suffix,
			Patch: []PatchOp{{Op: op, Path: path, Value: to}}}}
	}
	const podGrace = "/spec/terminationGracePeriodSeconds"

	runRuleCases(t, RuleTerminationGracePeriod, []ruleCase{
		{
			name:   "An absent grace period means 30s, which covers the default 5s sleep plus 25s shutdown.",
			review: create(pod(t)),
		},
		{
			name:   "A grace period of 10s is raised to 30s, replacing the present value.",
			review: create(pod(t, `{spec: {terminationGracePeriodSeconds: 10}}`)),
			want:   raise("replace", podGrace, 10, 30, 5, "pod/web", ""),
		},
		{
			name:   "A grace period of 0 is raised too.",
			review: create(pod(t, `{spec: {terminationGracePeriodSeconds: 0}}`)),
			want:   raise("replace", podGrace, 0, 30, 5, "pod/web", ""),
		},
		{
			name:   "A grace period of 60s is never lowered.",
			review: create(pod(t, `{spec: {terminationGracePeriodSeconds: 60}}`)),
		},
		{
			name: "An existing native sleep of 20s needs 45s, added when the grace period is absent.",
			review: create(pod(t, `
spec:
  containers:
  - {name: app, image: shop:2, lifecycle: {preStop: {sleep: {seconds: 20}}}}
`)),
			want: raise("add", podGrace, 30, 45, 20, "pod/web", ""),
		},
		{
			name: "An existing exec sleep 20 needs 45s.",
			review: create(pod(t, `
spec:
  terminationGracePeriodSeconds: 30
  containers:
  - {name: app, image: shop:2, lifecycle: {preStop: {exec: {command: [sleep, "20"]}}}}
`)),
			want: raise("replace", podGrace, 30, 45, 20, "pod/web", ""),
		},
		{
			name: "The longest sleep counts, whether it exists or is added to another container.",
			review: create(pod(t, `
spec:
  containers:
  - {name: app, image: shop:2}
  - {name: proxy, image: envoy:1.36, lifecycle: {preStop: {sleep: {seconds: 20}}}}
`)),
			want: raise("add", podGrace, 30, 45, 20, "pod/web", ""),
		},
		{
			name: "A shell script that sleeps is read: sh -c \"sleep 20\" needs 45s.",
			review: create(pod(t, `
spec:
  containers:
  - {name: app, image: shop:2, lifecycle: {preStop: {exec: {command: [/bin/sh, -c, "sleep 20"]}}}}
`)),
			want: raise("add", podGrace, 30, 45, 20, "pod/web", ""),
		},
		{
			name: "A sleep binary by its path, with a suffix, is read: /usr/bin/sleep 1m needs 85s.",
			review: create(pod(t, `
spec:
  containers:
  - {name: app, image: shop:2, lifecycle: {preStop: {exec: {command: [/usr/bin/sleep, 1m]}}}}
`)),
			want: raise("add", podGrace, 30, 85, 60, "pod/web", ""),
		},
		{
			name: "A hook whose delay cannot be read is counted as 0s and warned about, never silently.",
			review: create(pod(t, `
spec:
  terminationGracePeriodSeconds: 10
  containers:
  - {name: app, image: shop:2, lifecycle: {preStop: {exec: {command: [/app/drain.sh]}}}}
`)),
			want: append([]Finding{{Rule: RuleTerminationGracePeriod, Action: ActionWarn, Object: "pod/web",
				Message: `cannot read how long the preStop hook of container "app" (exec "/app/drain.sh") delays SIGTERM, so it counts as 0s; make the grace period cover it`}},
				raise("replace", podGrace, 10, 25, 0, "pod/web", "")...),
		},
		{
			name: "A tcpSocket hook is never run: it is replaced by the added sleep, which the grace period covers.",
			review: create(pod(t, `
spec:
  terminationGracePeriodSeconds: 10
  containers:
  - {name: app, image: shop:2, lifecycle: {preStop: {tcpSocket: {port: 8080}}}}
`)),
			want: raise("replace", podGrace, 10, 30, 5, "pod/web", ""),
		},
		{
			name: "A native sidecar stops after the app: 5s sleep + 25s shutdown, then 5s for the sidecar (field case 13a).",
			review: create(pod(t, `
spec:
  initContainers:
  - {name: istio-proxy, image: proxyv2:1.24, restartPolicy: Always, lifecycle: {preStop: {sleep: {seconds: 20}}}}
`)),
			want: []Finding{{Rule: RuleTerminationGracePeriod, Action: ActionPatch, Object: "pod/web",
				Message: `raise terminationGracePeriodSeconds from 30 to 35 (preStop 5s + shutdown 25s, then 5s for sidecar "istio-proxy")`,
				Patch:   []PatchOp{op("add", podGrace, "35")}}},
		},
		{
			name:   "Sidecars stop one after another, each after its own hook: a 40s sidecar hook ends after the app, then both stop.",
			engine: newEngine(t, "sidecarShutdownSeconds: 10", currentServer),
			review: create(pod(t, `
spec:
  initContainers:
  - {name: setup, image: busybox}
  - {name: proxy, image: envoy:1.36, restartPolicy: Always}
  - {name: log, image: fluent-bit:4, restartPolicy: Always, lifecycle: {preStop: {sleep: {seconds: 40}}}}
`)),
			want: []Finding{{Rule: RuleTerminationGracePeriod, Action: ActionPatch, Object: "pod/web",
				Message: `raise terminationGracePeriodSeconds from 30 to 60 (preStop 5s + shutdown 25s, then 30s for sidecars "proxy", "log")`,
				Patch:   []PatchOp{op("add", podGrace, "60")}}},
		},
		{
			name:   "A plain init container has exited before the pod serves and costs nothing.",
			review: create(pod(t, `{spec: {initContainers: [{name: setup, image: busybox}]}}`)),
		},
		{
			name:   "shutdownSeconds sets the drain time added to the sleep.",
			engine: newEngine(t, "shutdownSeconds: 40", currentServer),
			review: create(pod(t)),
			want: []Finding{{Rule: RuleTerminationGracePeriod, Action: ActionPatch, Object: "pod/web",
				Message: "raise terminationGracePeriodSeconds from 30 to 45 (preStop 5s + shutdown 40s)",
				Patch:   []PatchOp{op("add", podGrace, "45")}}},
		},
		{
			name:   "With prestop-hook exempted, no sleep is added and only the shutdown time is needed.",
			review: create(pod(t, `{metadata: {annotations: {gracekeeper.io/exempt: prestop-hook}}, spec: {terminationGracePeriodSeconds: 10}}`)),
			want:   raise("replace", podGrace, 10, 25, 0, "pod/web", ""),
		},
		{
			name:   "A pod annotated to exempt termination-grace-period keeps its grace period.",
			review: create(pod(t, `{metadata: {annotations: {gracekeeper.io/exempt: termination-grace-period}}, spec: {terminationGracePeriodSeconds: 10}}`)),
		},
		{
			name:   "A run-once pod is skipped.",
			review: create(pod(t, `{spec: {restartPolicy: Never, terminationGracePeriodSeconds: 0}}`)),
		},
		{
			name: "A grace period longer than any sleep is never lowered, however large.",
			review: create(pod(t, `
spec:
  terminationGracePeriodSeconds: 9000000000
  containers:
  - {name: app, image: shop:2, lifecycle: {preStop: {sleep: {seconds: 8000000000}}}}
`)),
		},
		{
			name:   "A Deployment's template is reported for its pods, under /spec/template/spec.",
			review: create(deployment(t, `{spec: {template: {spec: {terminationGracePeriodSeconds: 10}}}}`)),
			want:   raise("replace", "/spec/template/spec/terminationGracePeriodSeconds", 10, 30, 5, "deployment/nginx", " in the pods of deployment/nginx"),
		},
		{
			name:   "A StatefulSet's template is reported for its pods.",
			review: create(statefulSet(t, `{spec: {template: {spec: {terminationGracePeriodSeconds: 0}}}}`)),
			want:   raise("replace", "/spec/template/spec/terminationGracePeriodSeconds", 0, 30, 5, "statefulset/db", " in the pods of statefulset/db"),
		},
		{
			name: "A DaemonSet's template with a long exec sleep gets the grace period added.",
			review: create(daemonSet(t, `
spec:
  template:
    spec:
      containers:
      - {name: agent, image: fluent-bit:4, lifecycle: {preStop: {exec: {command: [sleep, "10"]}}}}
`)),
			want: raise("add", "/spec/template/spec/terminationGracePeriodSeconds", 30, 35, 10, "daemonset/agent", " in the pods of daemonset/agent"),
		},
	})
}
