package policies

import "fmt"

// readiness-probe reads spec.containers[*].readinessProbe on Pod CREATE and
// on workload templates, and only warns: a rolling update is not graceful when
// new pods report Ready before they serve.
var readinessProbeRule = rule{
	id:    RuleReadinessProbe,
	pod:   true,
	check: checkReadinessProbe,
	help: "A container without a readinessProbe is Ready before it serves, so a rolling update cannot wait " +
		"for it. Add a readinessProbe.",
	rank: 4,
}

func checkReadinessProbe(ev *evaluation) []Finding {
	t := ev.pods
	if !ev.judges(t, RuleReadinessProbe) {
		return nil
	}
	var findings []Finding
	for i := range t.spec.Containers {
		c := &t.spec.Containers[i]
		if c.ReadinessProbe == nil {
			f := t.containerFinding(RuleReadinessProbe, ActionWarn, ev.ref(), c,
				fmt.Sprintf("container %q has no readinessProbe, so a rollout cannot wait for it to serve", c.Name),
				"%s have no readinessProbe, so a rollout cannot wait for them to serve")
			f.Field = fmt.Sprintf("%s/containers/%d", t.path, i)
			findings = append(findings, f)
		}
	}
	return findings
}
