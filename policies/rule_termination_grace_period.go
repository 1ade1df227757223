package policies

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// termination-grace-period reads, on Pod CREATE and on workload templates:
//   - spec.terminationGracePeriodSeconds (absent means 30)
//   - the longest preStop delay of the regular containers, existing (see
//     readPreStop) or added by prestop-hook
//   - the native sidecars (initContainers with restartPolicy Always) and their
//     preStop delays
//
// The grace period is raised to what termination takes, as the kubelet runs
// it (killContainer in pkg/kubelet/kuberuntime and its terminationOrdering):
// every preStop hook starts at once; the main containers get SIGTERM after
// their hook and need shutdownSeconds; each sidecar gets SIGTERM only after
// every main container and every sidecar declared after it has exited (and its
// own hook has ended), and needs sidecarShutdownSeconds. It is only ever
// raised; 0 is raised too. A hook whose delay cannot be read is counted as 0 s
// and warned about, never silently.
var terminationGracePeriodRule = rule{
	id:    RuleTerminationGracePeriod,
	pod:   true,
	check: checkTerminationGracePeriod,
	help: "terminationGracePeriodSeconds must cover the longest preStop delay plus the shutdown time " +
		"(25 s by default), then each native sidecar's shutdown (5 s by default), since sidecars stop after the app. " +
		"gracekeeper raises it, never lowers it, and warns about a preStop hook whose delay it cannot read.",
	rank: 2,
}

func checkTerminationGracePeriod(ev *evaluation) []Finding {
	t := ev.pods
	if !ev.judges(t, RuleTerminationGracePeriod) {
		return nil
	}
	var findings []Finding
	unread := func(kind string, c *corev1.Container, at string, d hookDelay) {
		if d.unread == "" {
			return
		}
		message := fmt.Sprintf("cannot read how long the preStop hook of %s %q (%s) delays SIGTERM, so it counts as 0s; make the grace period cover it", kind, c.Name, d.unread)
		f := t.finding(RuleTerminationGracePeriod, ActionWarn, ev.ref(), message)
		if kind == "container" {
			f = t.containerFinding(RuleTerminationGracePeriod, ActionWarn, ev.ref(), c, message,
				fmt.Sprintf("cannot read how long the preStop hooks of %%s (%s) delay SIGTERM, so they count as 0s; make the grace period cover them", d.unread))
		}
		f.Field = t.path + at + "/lifecycle/preStop"
		findings = append(findings, f)
	}
	longest := int64(ev.addedSleep(t))
	for i := range t.spec.Containers {
		d := readPreStop(&t.spec.Containers[i])
		unread("container", &t.spec.Containers[i], fmt.Sprintf("/containers/%d", i), d)
		longest = max(longest, d.seconds)
	}
	shutdown := int64(*ev.cfg.ShutdownSeconds)
	need := longest + shutdown
	var sidecars []string
	for i := len(t.spec.InitContainers) - 1; i >= 0; i-- {
		c := &t.spec.InitContainers[i]
		if !isSidecar(c) {
			continue
		}
		d := readPreStop(c)
		unread("sidecar", c, fmt.Sprintf("/initContainers/%d", i), d)
		need = max(need, d.seconds) + int64(*ev.cfg.SidecarShutdownSeconds)
		sidecars = append(sidecars, fmt.Sprintf("%q", c.Name))
	}
	have := effectiveGracePeriod(t.spec)
	if have >= need {
		return findings
	}
	why := fmt.Sprintf("preStop %ds + shutdown %ds", longest, shutdown)
	if len(sidecars) > 0 {
		noun := "sidecar"
		if len(sidecars) > 1 {
			noun = "sidecars"
		}
		slices.Reverse(sidecars)
		why += fmt.Sprintf(", then %ds for %s %s", need-longest-shutdown, noun, strings.Join(sidecars, ", "))
	}
	op := set(t.spec.TerminationGracePeriodSeconds != nil, t.path+"/terminationGracePeriodSeconds", need)
	return append(findings, t.finding(RuleTerminationGracePeriod, ActionPatch, ev.ref(),
		fmt.Sprintf("raise terminationGracePeriodSeconds from %d to %d (%s)", have, need, why), op))
}
