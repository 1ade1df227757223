//go:build unix && !linux

package cluster

import "syscall"

func sysProcAttr(detached bool) *syscall.SysProcAttr {
	if detached {
		return &syscall.SysProcAttr{Setsid: true}
	}
	// Without Pdeathsig, Stop is the only way these processes end.
	return &syscall.SysProcAttr{Setpgid: true}
}

// procStat only tells whether pid exists: there is no portable start time,
// so a recycled PID cannot be told apart here.
func procStat(pid int) (startTime uint64, zombie bool, err error) {
	return 0, false, syscall.Kill(pid, 0)
}
