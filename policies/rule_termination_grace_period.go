package policies

import "fmt"

// termination-grace-period reads, on Pod CREATE and on workload templates:
//   - spec.terminationGracePeriodSeconds (absent means 30)
//   - the longest preStop sleep, existing or added by prestop-hook
//
// The grace period is raised to at least that sleep plus shutdownSeconds, so
// the app can drain after SIGTERM. It is only ever raised; 0 is raised too.
func checkTerminationGracePeriod(ev *evaluation) []Finding {
	t := ev.pods
	if t == nil || ev.podRuleOff(t, RuleTerminationGracePeriod) || !ev.serves(t) {
		return nil
	}
	longest := int64(ev.addedSleep(t))
	for i := range t.spec.Containers {
		longest = max(longest, existingSleep(&t.spec.Containers[i]))
	}
	need := longest + int64(*ev.cfg.ShutdownSeconds)
	have := t.gracePeriod()
	if have >= need {
		return nil
	}
	op := set(t.spec.TerminationGracePeriodSeconds != nil, t.path+"/terminationGracePeriodSeconds", need)
	return []Finding{t.finding(RuleTerminationGracePeriod, ActionPatch, ev.ref(),
		fmt.Sprintf("raise terminationGracePeriodSeconds from %d to %d (preStop %ds + shutdown %ds)",
			have, need, longest, *ev.cfg.ShutdownSeconds), op)}
}
