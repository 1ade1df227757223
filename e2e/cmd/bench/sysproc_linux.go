package main

import "syscall"

// sysProcAttr has the kernel kill a server when this program dies, however
// it dies.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
