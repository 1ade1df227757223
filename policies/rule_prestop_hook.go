package policies

import (
	"fmt"
	"strconv"

	corev1 "k8s.io/api/core/v1"
)

// prestop-hook reads, on Pod CREATE and on workload templates:
//   - spec.containers[*].lifecycle.preStop
//   - spec.restartPolicy, the controller owner's kind, the mirror-pod annotation
//   - spec.terminationGracePeriodSeconds (the sleep may not exceed it)
//
// Every regular container without a preStop hook gets one that sleeps
// preStop.sleepSeconds, so endpoints are removed before SIGTERM. An existing
// hook is never replaced.
func checkPreStopHook(ev *evaluation) []Finding {
	t := ev.pods
	if t == nil {
		return nil
	}
	seconds := ev.addedSleep(t)
	if seconds == 0 {
		return nil
	}
	var findings []Finding
	for i := range t.spec.Containers {
		c := &t.spec.Containers[i]
		if c.Lifecycle != nil && c.Lifecycle.PreStop != nil {
			continue
		}
		hook, describe := ev.preStopHook(seconds)
		path := fmt.Sprintf("%s/containers/%d/lifecycle", t.path, i)
		op := add(path, &corev1.Lifecycle{PreStop: hook})
		if c.Lifecycle != nil {
			op = add(path+"/preStop", hook)
		}
		findings = append(findings, t.finding(RulePreStopHook, ActionPatch, ev.ref(),
			fmt.Sprintf("add preStop %s to container %q", describe, c.Name), op))
	}
	return findings
}

// addedSleep is the preStop sleep injected into these pods, 0 for none. Pod
// validation rejects a sleep longer than the grace period, so when the
// grace-period rule cannot raise it, the sleep is capped to fit.
func (ev *evaluation) addedSleep(t *podTarget) int32 {
	if ev.podRuleOff(t, RulePreStopHook) || !ev.serves(t) || !missingPreStop(t.spec) {
		return 0
	}
	seconds := *ev.cfg.PreStop.SleepSeconds
	if ev.podRuleOff(t, RuleTerminationGracePeriod) {
		seconds = int32(max(min(int64(seconds), t.gracePeriod()), 0))
	}
	return max(seconds, 0)
}

func missingPreStop(spec *corev1.PodSpec) bool {
	for i := range spec.Containers {
		if l := spec.Containers[i].Lifecycle; l == nil || l.PreStop == nil {
			return true
		}
	}
	return false
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
