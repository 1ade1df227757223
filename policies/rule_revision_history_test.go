package policies

import "testing"

func TestRevisionHistory(t *testing.T) {
	raised := func(object string, from int) []Finding {
		return []Finding{{Rule: RuleRevisionHistory, Action: ActionPatch, Object: object,
			Message: "raise revisionHistoryLimit from " + itoa(int32(from)) + ` to 3 so "kubectl rollout undo" keeps working`,
			Patch:   []PatchOp{op("replace", "/spec/revisionHistoryLimit", "3")}}}
	}
	const zero = `{spec: {revisionHistoryLimit: 0}}`

	runRuleCases(t, RuleRevisionHistory, []ruleCase{
		{
			name:   "A Deployment's revisionHistoryLimit of 0 is raised to 3.",
			review: create(deployment(t, zero)),
			want:   raised("deployment/nginx", 0),
		},
		{
			name:   "A revisionHistoryLimit of 2 is raised to 3.",
			review: create(deployment(t, `{spec: {revisionHistoryLimit: 2}}`)),
			want:   raised("deployment/nginx", 2),
		},
		{
			name:   "A revisionHistoryLimit of 3 passes.",
			review: create(deployment(t, `{spec: {revisionHistoryLimit: 3}}`)),
		},
		{
			name:   "An absent revisionHistoryLimit (the API default, 10) is untouched.",
			review: create(deployment(t)),
		},
		{
			name:   "An UPDATE that lowers it to 0 is patched.",
			review: update(deployment(t), deployment(t, zero)),
			want:   raised("deployment/nginx", 0),
		},
		{
			name:   "A StatefulSet's revisionHistoryLimit is raised.",
			review: create(statefulSet(t, zero)),
			want:   raised("statefulset/db", 0),
		},
		{
			name:   "A DaemonSet's revisionHistoryLimit is raised.",
			review: create(daemonSet(t, `{spec: {revisionHistoryLimit: 1}}`)),
			want:   raised("daemonset/agent", 1),
		},
		{
			name:   "revisionHistory.minimum sets the floor.",
			engine: newEngine(t, "revisionHistory: {minimum: 5}", currentServer),
			review: create(deployment(t, `{spec: {revisionHistoryLimit: 4}}`)),
			want: []Finding{{Rule: RuleRevisionHistory, Action: ActionPatch, Object: "deployment/nginx",
				Message: `raise revisionHistoryLimit from 4 to 5 so "kubectl rollout undo" keeps working`,
				Patch:   []PatchOp{op("replace", "/spec/revisionHistoryLimit", "5")}}},
		},
		{
			name:   "With action deny the object is denied, naming the value to set.",
			engine: newEngine(t, "revisionHistory: {action: deny}", currentServer),
			review: create(deployment(t, zero)),
			want: []Finding{{Rule: RuleRevisionHistory, Action: ActionDeny, Object: "deployment/nginx",
				Message: `revisionHistoryLimit 0 leaves "kubectl rollout undo" too few revisions`,
				Hint:    "Set spec.revisionHistoryLimit to at least 3"}},
		},
		{
			name:   "With action warn the object is only warned about.",
			engine: newEngine(t, "revisionHistory: {action: warn}", currentServer),
			review: create(statefulSet(t, zero)),
			want: []Finding{{Rule: RuleRevisionHistory, Action: ActionWarn, Object: "statefulset/db",
				Message: `revisionHistoryLimit 0 leaves "kubectl rollout undo" too few revisions; set it to at least 3`}},
		},
		{
			name:   "A Deployment annotated to exempt revision-history is untouched.",
			review: create(deployment(t, zero, `{metadata: {annotations: {gracekeeper.io/exempt: revision-history, gracekeeper.io/exempt-reason: GitOps keeps history}}}`)),
		},
		{
			name:   "A DELETE is not judged.",
			review: deleteOf(deployment(t, zero, `{spec: {replicas: 0}}`), nil),
		},
	})
}
