package policies

import "fmt"

// scale-to-zero reads spec.replicas of a Deployment, StatefulSet or
// ReplicaSet (every kind with replicas), and of the Scale sent to their /scale
// subresource (kubectl scale), on UPDATE together with the stored value. Going from >0 to 0 stops the service; scaling back up
// is a cold start, not a restart. A controller-owned ReplicaSet scaled by a
// service account is its owner's rollout (see ownerScalesReplicaSet).
var scaleToZeroRule = rule{
	id:    RuleScaleToZero,
	check: checkScaleToZero,
	help: "Taking replicas from more than 0 to 0 stops the service; scaling back is a cold start. Use " +
		"\"kubectl rollout restart\" to restart, or record an exemption to scale to zero on purpose.",
	rank: 1,
}

func checkScaleToZero(ev *evaluation) []Finding {
	before, now, ok := replicasChange(ev.review)
	if !ok || now != 0 || before == 0 || ownerScalesReplicaSet(ev) {
		return nil
	}
	ref := ev.ref()
	return []Finding{{Rule: RuleScaleToZero, Action: ActionDeny, Object: ref, Field: "/spec/replicas",
		Message: fmt.Sprintf("scaling %s from %d to 0 replicas stops the service", ref, before),
		Hint: "To restart, " + restartAdvice(ev) + ". " +
			exemptHint(ev, RuleScaleToZero, "scale it to zero on purpose", fmt.Sprintf(`kubectl patch %s -p '{"spec":{"replicas":0}}'`, ref))}}
}
