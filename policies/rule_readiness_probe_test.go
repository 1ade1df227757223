package policies

import "testing"

func TestReadinessProbe(t *testing.T) {
	noProbe := func(object, container string) Finding {
		return Finding{Rule: RuleReadinessProbe, Action: ActionWarn, Object: object,
			Message: `container "` + container + `" has no readinessProbe, so a rollout cannot wait for it to serve`}
	}
	const twoContainers = `
spec:
  containers:
  - {name: app, image: shop:2}
  - {name: proxy, image: envoy:1.36}
`

	runRuleCases(t, RuleReadinessProbe, []ruleCase{
		{
			name:   "Each container without a readinessProbe gets its own warning.",
			review: create(pod(t, twoContainers)),
			want:   []Finding{noProbe("pod/web", "app"), noProbe("pod/web", "proxy")},
		},
		{
			name: "A container with a readinessProbe passes while its neighbour warns.",
			review: create(pod(t, `
spec:
  containers:
  - {name: app, image: shop:2, readinessProbe: {httpGet: {path: /ready, port: 8080}}}
  - {name: proxy, image: envoy:1.36}
`)),
			want: []Finding{noProbe("pod/web", "proxy")},
		},
		{
			name:   "A Deployment's template is warned about on the Deployment's own request, where a person sees it.",
			review: create(deployment(t)),
			want:   []Finding{noProbe("deployment/nginx", "nginx")},
		},
		{
			name:   "A Deployment UPDATE is warned about too.",
			review: update(deployment(t), deployment(t, `{spec: {replicas: 4}}`)),
			want:   []Finding{noProbe("deployment/nginx", "nginx")},
		},
		{
			name:   "A StatefulSet's template is warned about.",
			review: create(statefulSet(t)),
			want:   []Finding{noProbe("statefulset/db", "postgres")},
		},
		{
			name:   "A run-once pod (restartPolicy Never) is skipped.",
			review: create(pod(t, twoContainers, `{spec: {restartPolicy: Never}}`)),
		},
		{
			name:   "A run-once pod (restartPolicy OnFailure) is skipped.",
			review: create(pod(t, `{spec: {restartPolicy: OnFailure}}`)),
		},
		{
			name:   "A Job's pod is skipped.",
			review: create(pod(t, `{metadata: {ownerReferences: [{apiVersion: batch/v1, kind: Job, name: backup, uid: 9c1d, controller: true}]}}`)),
		},
		{
			name:   "A pod annotated to exempt readiness-probe is skipped.",
			review: create(pod(t, `{metadata: {annotations: {gracekeeper.io/exempt: readiness-probe, gracekeeper.io/exempt-reason: a worker}}}`)),
		},
		{
			name:   "A pod UPDATE is not judged.",
			review: update(pod(t), pod(t, `{metadata: {labels: {tier: web}}}`)),
		},
	})
}
