package policies

import "testing"

func TestModeLabel(t *testing.T) {
	deniedFor := func(value string) []Finding {
		return []Finding{{Rule: RuleModeLabel, Action: ActionDeny, Object: "namespace/shop",
			Message: `label gracekeeper.io/mode="` + value + `" is not a mode`,
			Hint:    `Use enforce, audit or off, e.g. "kubectl label namespace shop gracekeeper.io/mode=audit --overwrite"`}}
	}
	labelled := func(value string) string { return `{metadata: {labels: {gracekeeper.io/mode: "` + value + `"}}}` }

	runRuleCases(t, RuleModeLabel, []ruleCase{
		{
			name:   "A Namespace created with the typo enforc is denied, since it would match no mode.",
			review: create(namespace(t, labelled("enforc"))),
			want:   deniedFor("enforc"),
		},
		{
			name:   "A Namespace UPDATE to the typo enforc is denied.",
			review: update(namespace(t, labelled("enforce")), namespace(t, labelled("enforc"))),
			want:   deniedFor("enforc"),
		},
		{
			name:   "Mode values are case-sensitive: Enforce is denied.",
			review: create(namespace(t, labelled("Enforce"))),
			want:   deniedFor("Enforce"),
		},
		{
			name:   "An empty mode value is denied.",
			review: create(namespace(t, labelled(""))),
			want:   deniedFor(""),
		},
		{
			name:   "enforce is a mode.",
			review: create(namespace(t, labelled("enforce"))),
		},
		{
			name:   "audit is a mode.",
			review: update(namespace(t), namespace(t, labelled("audit"))),
		},
		{
			name:   "off is a mode.",
			review: create(namespace(t, labelled("off"))),
		},
		{
			name:   "A Namespace without the label passes.",
			review: create(namespace(t)),
		},
		{
			name:   "Deleting a Namespace is not judged.",
			review: deleteOf(namespace(t, labelled("enforc")), nil),
		},
	})
}
