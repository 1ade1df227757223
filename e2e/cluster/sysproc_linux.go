package cluster

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

func sysProcAttr(detached bool) *syscall.SysProcAttr {
	if detached {
		// A session of its own: no terminal signal and no parent exit reaches it.
		return &syscall.SysProcAttr{Setsid: true}
	}
	// A group of its own, so that stop reaches any children too, and killed
	// with us even when the test binary is killed without running Stop.
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// procStat returns the start time of process pid, in clock ticks since boot,
// and whether it is a zombie.
func procStat(pid int) (startTime uint64, zombie bool, err error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false, err
	}
	// The command name, field 2, may hold spaces and parentheses: split after it.
	rest := string(data)
	if i := strings.LastIndexByte(rest, ')'); i >= 0 {
		rest = rest[i+1:]
	}
	fields := strings.Fields(rest) // fields[0] is field 3, the state
	if len(fields) < 20 {
		return 0, false, fmt.Errorf("parse /proc/%d/stat: too few fields", pid)
	}
	startTime, err = strconv.ParseUint(fields[19], 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("parse /proc/%d/stat start time: %w", pid, err)
	}
	return startTime, fields[0] == "Z", nil
}
