package policies

import (
	"fmt"
	"math"
	"path"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// hookDelay is how long a container's preStop hook holds back SIGTERM, as far
// as gracekeeper can read it. The zero value is "no hook".
type hookDelay struct {
	// runs says the container has a preStop hook the kubelet runs.
	runs bool
	// seconds is the delay read: 0 for no hook, an inert one or an unreadable one.
	seconds int64
	// unread says why the delay cannot be read ("" when it can): the hook runs,
	// but for an unknown time.
	unread string
	// inert says why the hook never runs ("" when it does): it counts as none.
	inert string
}

// hasHook reports whether the container has a preStop hook the kubelet runs,
// even one that sleeps 0 s (the user's explicit choice).
func (d hookDelay) hasHook() bool { return d.runs }

// readPreStop reads a container's lifecycle.preStop in the forms people write:
//   - the sleep action: {sleep: {seconds: N}};
//   - exec of a sleep binary by any path: ["sleep", "20"], ["/usr/bin/sleep", "25"],
//     with GNU and busybox suffixes ("20s", "1m", "1.5h", "1d") and several
//     operands, which sleep adds up ("1m 30s");
//   - exec of a shell (sh, bash, ash, dash, with -c or flags such as -ec) whose
//     script sleeps: "sleep 30", "sleep 5 && nginx -s quit". The conservative
//     reading: every sleep in the script counts and adds up (an upper bound for
//     "sleep 5 || sleep 10"), other commands count as instant. A loop, or a
//     sleep whose operand is not a literal, makes the delay unreadable.
//
// tcpSocket is accepted by the API (for compatibility) but never run by the
// kubelet (pkg/kubelet/lifecycle/handlers.go runs exec, httpGet and sleep only,
// and fails any other handler), so it is inert. httpGet, and exec of anything
// else, run for a time gracekeeper cannot read.
//
// Delays are capped at MaxInt32 seconds, so adding the shutdown time cannot overflow.
func readPreStop(c *corev1.Container) hookDelay {
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil {
		return hookDelay{}
	}
	h := c.Lifecycle.PreStop
	switch {
	case h.Sleep != nil:
		return hookDelay{runs: true, seconds: min(max(h.Sleep.Seconds, 0), math.MaxInt32)}
	case h.Exec != nil:
		if s, ok := execSleep(h.Exec.Command); ok {
			return hookDelay{runs: true, seconds: s}
		}
		return hookDelay{runs: true, unread: fmt.Sprintf("exec %q", shortCommand(h.Exec.Command))}
	case h.HTTPGet != nil:
		return hookDelay{runs: true, unread: "httpGet " + shortCommand([]string{h.HTTPGet.Path})}
	case h.TCPSocket != nil:
		return hookDelay{inert: "the kubelet never runs a tcpSocket preStop hook"}
	}
	return hookDelay{}
}

var shells = map[string]bool{"sh": true, "bash": true, "ash": true, "dash": true}

// execSleep reads an exec hook's command line; false when it cannot.
func execSleep(argv []string) (int64, bool) {
	if len(argv) == 0 {
		return 0, false
	}
	switch name := path.Base(argv[0]); {
	case name == "sleep":
		return sleepOperands(argv[1:])
	case shells[name]:
		for i, arg := range argv[1:] {
			if strings.HasPrefix(arg, "-") && !strings.HasPrefix(arg, "--") && strings.Contains(arg, "c") {
				if i+2 < len(argv) {
					return scriptSleep(argv[i+2])
				}
				return 0, false
			}
		}
	}
	return 0, false
}

// scriptSleep reads a shell script (see readPreStop): false when it holds no
// literal sleep, or one gracekeeper cannot bound.
func scriptSleep(script string) (int64, bool) {
	commands := strings.FieldsFunc(script, func(r rune) bool {
		return r == ';' || r == '&' || r == '|' || r == '\n' || r == '(' || r == ')' || r == '{' || r == '}'
	})
	var total int64
	found := false
	for _, command := range commands {
		words := strings.Fields(command)
		for len(words) > 0 && (words[0] == "exec" || words[0] == "then" || words[0] == "else" || words[0] == "do" ||
			words[0] == "if" || words[0] == "elif" || strings.Contains(words[0], "=") && !strings.HasPrefix(words[0], "=")) {
			words = words[1:]
		}
		if len(words) == 0 {
			continue
		}
		switch words[0] {
		case "while", "until", "for":
			return 0, false // a loop sleeps an unknown number of times
		}
		if path.Base(words[0]) != "sleep" {
			continue
		}
		s, ok := sleepOperands(words[1:])
		if !ok {
			return 0, false
		}
		total, found = min(total+s, math.MaxInt32), true
	}
	return total, found
}

// sleepOperands adds up sleep's operands: a number with an optional suffix
// s, m, h or d, as GNU coreutils and busybox read them. Fractions round up.
func sleepOperands(args []string) (int64, bool) {
	if len(args) == 0 {
		return 0, false
	}
	var total float64
	for _, arg := range args {
		unit := 1.0
		switch {
		case strings.HasSuffix(arg, "s"):
			arg = strings.TrimSuffix(arg, "s")
		case strings.HasSuffix(arg, "m"):
			arg, unit = strings.TrimSuffix(arg, "m"), 60
		case strings.HasSuffix(arg, "h"):
			arg, unit = strings.TrimSuffix(arg, "h"), 3600
		case strings.HasSuffix(arg, "d"):
			arg, unit = strings.TrimSuffix(arg, "d"), 86400
		}
		n, err := strconv.ParseFloat(arg, 64)
		// ParseFloat also reads "inf", "nan" and hex: sleep infinity never ends.
		if err != nil || math.IsNaN(n) || math.IsInf(n, 0) || n < 0 || strings.ContainsAny(arg, "xXpP_") {
			return 0, false
		}
		total += n * unit
	}
	return int64(min(math.Ceil(total), math.MaxInt32)), true
}

// shortCommand joins a command line for a message, cut to keep the message short.
func shortCommand(argv []string) string {
	s := []rune(strings.Join(argv, " "))
	if len(s) > 40 {
		return string(s[:37]) + "..."
	}
	return string(s)
}

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
	if !ev.judges(t, RulePreStopHook) || !missingPreStop(t.spec) {
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
