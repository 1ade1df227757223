package policies

import (
	"math"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestReadPreStopReadsTheFormsPeopleWrite(t *testing.T) {
	exec := func(argv ...string) *corev1.LifecycleHandler {
		return &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: argv}}
	}
	for _, tc := range []struct {
		name string
		hook *corev1.LifecycleHandler
		want hookDelay
	}{
		{"No hook is no delay.", nil, hookDelay{}},
		{"The sleep action.", &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 20}}, hookDelay{runs: true, seconds: 20}},
		{"A sleep action of 0 is a hook that the user chose to make instant.", &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{}}, hookDelay{runs: true}},
		{"exec sleep 20.", exec("sleep", "20"), hookDelay{runs: true, seconds: 20}},
		{"exec /usr/bin/sleep 25 (field case 03).", exec("/usr/bin/sleep", "25"), hookDelay{runs: true, seconds: 25}},
		{"exec /bin/sleep 5.", exec("/bin/sleep", "5"), hookDelay{runs: true, seconds: 5}},
		{"A seconds suffix: sleep 20s (field case 03).", exec("sleep", "20s"), hookDelay{runs: true, seconds: 20}},
		{"A minutes suffix: sleep 1m.", exec("sleep", "1m"), hookDelay{runs: true, seconds: 60}},
		{"Several operands add up, as sleep adds them: 1m 30s.", exec("sleep", "1m", "30s"), hookDelay{runs: true, seconds: 90}},
		{"A fraction rounds up: 0.5.", exec("sleep", "0.5"), hookDelay{runs: true, seconds: 1}},
		{"sh -c sleep 30 (field case 03).", exec("/bin/sh", "-c", "sleep 30"), hookDelay{runs: true, seconds: 30}},
		{"bash -ec with a sleep and a quit: the sleep counts.", exec("bash", "-ec", "sleep 5 && nginx -s quit"), hookDelay{runs: true, seconds: 5}},
		{"ash -c with two sleeps: both count (the conservative reading).", exec("ash", "-c", "sleep 5; kill -QUIT 1; sleep 10"), hookDelay{runs: true, seconds: 15}},
		{"A shell exec of sleep by path.", exec("sh", "-c", "exec /bin/sleep 7"), hookDelay{runs: true, seconds: 7}},
		{"An env assignment before sleep.", exec("sh", "-c", "DELAY=1 sleep 3"), hookDelay{runs: true, seconds: 3}},
		{"A sleep of a variable cannot be read.", exec("sh", "-c", "sleep $DELAY"), hookDelay{runs: true, unread: `exec "sh -c sleep $DELAY"`}},
		{"A loop cannot be read.", exec("sh", "-c", "while pgrep app; do sleep 1; done"), hookDelay{runs: true, unread: `exec "sh -c while pgrep app; do sleep 1; done"`}},
		{"A script without a sleep cannot be read.", exec("sh", "-c", "nginx -s quit"), hookDelay{runs: true, unread: `exec "sh -c nginx -s quit"`}},
		{"A shell running a script file cannot be read.", exec("sh", "/drain.sh"), hookDelay{runs: true, unread: `exec "sh /drain.sh"`}},
		{"sleep infinity cannot be read: it never ends.", exec("sleep", "infinity"), hookDelay{runs: true, unread: `exec "sleep infinity"`}},
		{"A negative sleep cannot be read.", exec("sleep", "-5"), hookDelay{runs: true, unread: `exec "sleep -5"`}},
		{"Another binary cannot be read.", exec("/app/drain"), hookDelay{runs: true, unread: `exec "/app/drain"`}},
		{"An empty command cannot be read.", exec(), hookDelay{runs: true, unread: `exec ""`}},
		{"httpGet cannot be read.", &corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/drain"}}, hookDelay{runs: true, unread: "httpGet /drain"}},
		{"tcpSocket is never run by the kubelet.", &corev1.LifecycleHandler{TCPSocket: &corev1.TCPSocketAction{}},
			hookDelay{inert: "the kubelet never runs a tcpSocket preStop hook"}},
		{"A huge sleep is capped so adding the shutdown cannot overflow.", exec("sleep", "99999999999d"), hookDelay{runs: true, seconds: 1<<31 - 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &corev1.Container{Name: "app"}
			if tc.hook != nil {
				c.Lifecycle = &corev1.Lifecycle{PreStop: tc.hook}
			}
			if got := readPreStop(c); got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// FuzzReadPreStop reads any exec command line: it never panics, a delay is
// never negative or above MaxInt32, and an unreadable hook reads as 0 s.
func FuzzReadPreStop(f *testing.F) {
	for _, seed := range []string{"sleep\x0020", "/bin/sh\x00-c\x00sleep 5 && nginx -s quit", "sleep\x001m\x0030s",
		"bash\x00-ec\x00while true; do sleep 1; done", "sleep\x00infinity", "sh\x00-c", "sleep\x000x10", "sleep\x001e400"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, command string) {
		c := &corev1.Container{Lifecycle: &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{
			Exec: &corev1.ExecAction{Command: strings.Split(command, "\x00")}}}}
		d := readPreStop(c)
		if !d.runs || d.inert != "" || d.seconds < 0 || d.seconds > math.MaxInt32 || (d.unread != "" && d.seconds != 0) {
			t.Errorf("readPreStop(%q) = %+v", command, d)
		}
	})
}
