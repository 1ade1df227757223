package policies

import (
	"fmt"

	"github.com/gracekeeper/gracekeeper/policies/api/v1alpha1"
)

// revision-history reads spec.revisionHistoryLimit of a Deployment,
// StatefulSet or DaemonSet on CREATE and UPDATE (absent means 10). Below
// revisionHistory.minimum, "kubectl rollout undo" has nothing to go back to.
var revisionHistoryRule = rule{
	id:    RuleRevisionHistory,
	check: checkRevisionHistory,
	help: "revisionHistoryLimit below the minimum (3 by default) leaves \"kubectl rollout undo\" nothing " +
		"to go back to. gracekeeper raises it.",
	rank: 3,
}

func checkRevisionHistory(ev *evaluation) []Finding {
	if ev.review.SubResource != "" || ev.review.Operation == Delete {
		return nil
	}
	k := kindOf(ev.review.Object)
	if k == nil || k.revisionHistoryLimit == nil {
		return nil
	}
	limit := k.revisionHistoryLimit(ev.review.Object)
	minimum := *ev.cfg.RevisionHistory.Minimum
	if limit == nil || *limit >= minimum {
		return nil
	}
	f := Finding{Rule: RuleRevisionHistory, Object: ev.ref(), Field: "/spec/revisionHistoryLimit"}
	problem := fmt.Sprintf("revisionHistoryLimit %d leaves %q too few revisions", *limit, "kubectl rollout undo")
	switch ev.cfg.RevisionHistory.Action {
	case v1alpha1.MutationWarn:
		f.Action, f.Message = ActionWarn, fmt.Sprintf("%s; set it to at least %d", problem, minimum)
	case v1alpha1.MutationDeny:
		f.Action, f.Message, f.Hint = ActionDeny, problem, fmt.Sprintf("Set spec.revisionHistoryLimit to at least %d", minimum)
	default:
		f.Action, f.Message = ActionPatch, fmt.Sprintf("raise revisionHistoryLimit from %d to %d so %q keeps working", *limit, minimum, "kubectl rollout undo")
		f.Patch = []PatchOp{replace("/spec/revisionHistoryLimit", minimum)}
	}
	return []Finding{f}
}
