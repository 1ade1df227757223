package policies

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
)

// mode-label reads a Namespace's gracekeeper.io/mode label on CREATE and
// UPDATE. An unknown value matches no webhook entry, so a typo would silently
// switch enforcement off: it is denied.
var modeLabelRule = rule{
	id:    RuleModeLabel,
	check: checkModeLabel,
	help: "The namespace label gracekeeper.io/mode must be enforce, audit or off: any other value matches no " +
		"webhook and silently switches enforcement off.",
	rank: 1,
}

func checkModeLabel(ev *evaluation) []Finding {
	ns, ok := ev.review.Object.(*corev1.Namespace)
	if !ok || ev.review.Operation == Delete {
		return nil
	}
	value, ok := ns.Labels[ModeLabel]
	if !ok || ValidMode(value) {
		return nil
	}
	return []Finding{{Rule: RuleModeLabel, Action: ActionDeny, Object: ev.ref(), Field: "/metadata/labels/" + escapePointer(ModeLabel),
		Message: fmt.Sprintf("label %s=%q is not a mode", ModeLabel, value),
		Hint:    fmt.Sprintf("Use enforce, audit or off, e.g. \"kubectl label namespace %s %s=audit --overwrite\"", ns.Name, ModeLabel)}}
}
