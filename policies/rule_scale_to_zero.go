package policies

import "fmt"

// scale-to-zero reads spec.replicas of a Deployment, StatefulSet or
// ReplicaSet (every kind with replicas), and of the Scale sent to their /scale
// subresource (kubectl scale), on UPDATE together with the stored value. Going from >0 to 0 stops the service; scaling back up
// is a cold start, not a restart.
func checkScaleToZero(ev *evaluation) []Finding {
	r := ev.review
	if r.Operation != Update {
		return nil
	}
	now, ok := specReplicas(r.Object)
	before, okOld := specReplicas(r.OldObject)
	if !ok || !okOld || now != 0 || before == 0 {
		return nil
	}
	ref := ev.ref()
	return []Finding{{Rule: RuleScaleToZero, Action: ActionDeny, Object: ref, Field: "/spec/replicas",
		Message: fmt.Sprintf("scaling %s from %d to 0 replicas stops the service", ref, before),
		Hint: "To restart, " + restartAdvice(ev) + ". " +
			exemptHint(ev, RuleScaleToZero, "scale it to zero on purpose", fmt.Sprintf(`kubectl patch %s -p '{"spec":{"replicas":0}}'`, ref))}}
}
