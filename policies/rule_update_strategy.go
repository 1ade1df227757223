package policies

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// update-strategy reads a StatefulSet's or DaemonSet's spec.updateStrategy.type
// on CREATE and UPDATE, the stored object's on UPDATE, the controller
// ownerReference and deletionTimestamp. OnDelete never rolls pods out: they
// change only when someone deletes them. It is denied on CREATE and on a
// switch to it; an object that already was OnDelete, one managed by an
// operator (which may switch on purpose) or one being deleted only gets a warning.
const updateStrategyField = "/spec/updateStrategy/type"

var updateStrategyRule = rule{
	id:    RuleUpdateStrategy,
	check: checkUpdateStrategy,
	help: "A StatefulSet's or DaemonSet's updateStrategy OnDelete never rolls a change out: pods change only " +
		"when deleted. Use RollingUpdate, and \"kubectl rollout restart\" to restart.",
	rank: 1,
}

func checkUpdateStrategy(ev *evaluation) []Finding {
	if ev.review.SubResource != "" || !isOnDelete(ev.review.Object) {
		return nil
	}
	obj, _ := ev.review.Object.(metav1.Object)
	ref := ev.ref()
	problem := "updateStrategy OnDelete never rolls out a change: pods update only when deleted"
	warn := func(why string) []Finding {
		return []Finding{{Rule: RuleUpdateStrategy, Action: ActionWarn, Object: ref, Field: updateStrategyField, Message: problem + why}}
	}
	switch {
	case ev.review.Operation == Update && isOnDelete(ev.review.OldObject):
		return warn("; switch to RollingUpdate")
	case metav1.GetControllerOfNoCopy(obj) != nil:
		return warn("; allowed because an operator manages it")
	case obj.GetDeletionTimestamp() != nil:
		return warn("; allowed because it is being deleted")
	}
	return []Finding{{Rule: RuleUpdateStrategy, Action: ActionDeny, Object: ref, Field: updateStrategyField, Message: problem,
		Hint: fmt.Sprintf("Use updateStrategy RollingUpdate, and %q to restart. %s", "kubectl rollout restart "+ref,
			manifestExemptHint(RuleUpdateStrategy, "keep OnDelete (pods replaced one by one, by hand)"))}}
}

func isOnDelete(obj runtime.Object) bool {
	k := kindOf(obj)
	return k != nil && k.onDelete != nil && k.onDelete(obj)
}
