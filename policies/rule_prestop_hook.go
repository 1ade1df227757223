package policies

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
)

// prestop-hook reads, on Pod CREATE and on workload templates:
//   - spec.containers[*].lifecycle.preStop (see readPreStop)
//   - spec.restartPolicy, the controller owner's kind, the mirror-pod annotation
//   - spec.terminationGracePeriodSeconds (the sleep may not exceed it)
//   - spec.os.name and the kubernetes.io/os node selector (Windows pods)
//
// Every regular container without a preStop hook gets one that sleeps
// preStop.sleepSeconds, so endpoints are removed before SIGTERM. An existing
// hook is never replaced, except a tcpSocket one, which the kubelet never runs:
// it becomes the sleep (a handler holds exactly one action). Windows pods
// never get exec "sleep" (Windows images have none): below the native sleep
// action they get no hook, and a warning that says what to do.
var preStopHookRule = rule{
	id:    RulePreStopHook,
	pod:   true,
	check: checkPreStopHook,
	help: "Every serving container needs a preStop hook that sleeps a few seconds (5 by default), so the pod " +
		"leaves the Service endpoints before it gets SIGTERM. gracekeeper adds lifecycle.preStop.sleep (exec sleep below " +
		"Kubernetes 1.33, never on Windows pods, which then get none and a warning); a tcpSocket hook, which the kubelet " +
		"never runs, is replaced. Job and CronJob pods, run-once and mirror pods are skipped.",
	rank: 2,
}

func checkPreStopHook(ev *evaluation) []Finding {
	t := ev.pods
	if t == nil {
		return nil
	}
	seconds := ev.plannedSleep(t)
	if seconds == 0 {
		return nil
	}
	if isWindows(t.spec) && !ev.nativeSleep {
		at := "/nodeSelector"
		if t.spec.OS != nil {
			at = "/os"
		}
		return []Finding{{Rule: RulePreStopHook, Action: ActionWarn, Object: ev.ref(), Field: t.path + at,
			Message: windowsNoHook}}
	}
	var findings []Finding
	for i := range t.spec.Containers {
		c := &t.spec.Containers[i]
		delay := readPreStop(c)
		if delay.hasHook() {
			continue
		}
		hook, describe := ev.preStopHook(seconds)
		path := fmt.Sprintf("%s/containers/%d/lifecycle", t.path, i)
		op := add(path, &corev1.Lifecycle{PreStop: hook})
		message := fmt.Sprintf("add preStop %s to container %q", describe, c.Name)
		several := fmt.Sprintf("add preStop %s to %%s", describe)
		switch {
		case delay.inert != "":
			op = replace(path+"/preStop", hook)
			message = fmt.Sprintf("replace the preStop tcpSocket of container %q with %s (%s)", c.Name, describe, delay.inert)
			several = fmt.Sprintf("replace the preStop tcpSocket of %%s with %s (%s)", describe, delay.inert)
		case c.Lifecycle != nil:
			op = add(path+"/preStop", hook)
		}
		findings = append(findings, t.containerFinding(RulePreStopHook, ActionPatch, ev.ref(), c, message, several, op))
	}
	return findings
}

// windowsNoHook says why a Windows pod gets no hook below the sleep action, and what to do.
const windowsNoHook = `Windows pod gets no preStop hook: exec "sleep" fails (no sleep binary) and the sleep action needs API server 1.33+; add your own hook, or set preStop.action: sleep once all kubelets are 1.30+`
