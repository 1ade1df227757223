//go:build !linux

package main

import "syscall"

// sysProcAttr: only Linux can kill a child when its parent dies; elsewhere
// the servers are stopped by stop, or by the terminal's interrupt.
func sysProcAttr() *syscall.SysProcAttr { return nil }
