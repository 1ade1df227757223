package policies

import (
	"fmt"
	"strconv"

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
		several := fmt.Sprintf("add preStop %s to %%s", verbatim(describe))
		switch {
		case delay.inert != "":
			op = replace(path+"/preStop", hook)
			message = fmt.Sprintf("replace the preStop tcpSocket of container %q with %s (%s)", c.Name, describe, delay.inert)
			several = fmt.Sprintf("replace the preStop tcpSocket of %%s with %s (%s)", verbatim(describe), verbatim(delay.inert))
		case c.Lifecycle != nil:
			op = add(path+"/preStop", hook)
		}
		findings = append(findings, t.containerFinding(RulePreStopHook, ActionPatch, ev.ref(), c, message, several, op))
	}
	return findings
}

// windowsNoHook says why a Windows pod gets no hook below the sleep action, and what to do.
const windowsNoHook = `Windows pod gets no preStop hook: exec "sleep" fails (no sleep binary) and the sleep action needs API server 1.33+; add your own hook, or set preStop.action: sleep once all kubelets are 1.30+`

// addedSleep is the preStop sleep injected into these pods, 0 for none.
func (ev *evaluation) addedSleep(t *podTarget) int32 {
	if isWindows(t.spec) && !ev.nativeSleep {
		return 0
	}
	return ev.plannedSleep(t)
}

// plannedSleep is the preStop sleep these pods need, 0 for none, whether or
// not a hook can carry it. Pod validation rejects a sleep longer than the
// grace period, so when the grace-period rule cannot raise it, the sleep is
// capped to fit.
func (ev *evaluation) plannedSleep(t *podTarget) int32 {
	if ev.podRuleOff(t, RulePreStopHook) || !ev.serves(t) || !missingPreStop(t.spec) {
		return 0
	}
	seconds := *ev.cfg.PreStop.SleepSeconds
	if ev.podRuleOff(t, RuleTerminationGracePeriod) {
		seconds = int32(max(min(int64(seconds), effectiveGracePeriod(t.spec)), 0))
	}
	return max(seconds, 0)
}

// missingPreStop reports whether a regular container has no preStop hook the kubelet runs.
func missingPreStop(spec *corev1.PodSpec) bool {
	for i := range spec.Containers {
		if !readPreStop(&spec.Containers[i]).hasHook() {
			return true
		}
	}
	return false
}

// isWindows reports whether the pods run on Windows nodes: spec.os.name, or
// the well-known node selector that older manifests use without it.
func isWindows(spec *corev1.PodSpec) bool {
	return (spec.OS != nil && spec.OS.Name == corev1.Windows) || spec.NodeSelector[corev1.LabelOSStable] == string(corev1.Windows)
}

// preStopHook is the native sleep action where every kubelet has it, otherwise
// exec of a sleep binary, which distroless and scratch images lack.
func (ev *evaluation) preStopHook(seconds int32) (*corev1.LifecycleHandler, string) {
	if ev.nativeSleep {
		return &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: int64(seconds)}},
			fmt.Sprintf("sleep %ds", seconds)
	}
	n := strconv.Itoa(int(seconds))
	return &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"sleep", n}}},
		fmt.Sprintf(`exec "sleep %s"`, n)
}
