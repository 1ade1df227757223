package cluster

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// process is one program the harness started. Its PID and start time are
// recorded in the state file, so that another invocation (make down) can stop
// it without mistaking a recycled PID for it.
type process struct {
	Name      string   `json:"name"`
	Binary    string   `json:"binary"`
	Args      []string `json:"args"`
	PID       int      `json:"pid"`
	StartTime uint64   `json:"startTime"`
	Log       string   `json:"log"`

	// exited is closed when the process has exited and been reaped; it is nil
	// for a process loaded from a state file, which is not our child.
	exited chan struct{}
	err    error
	// stopped marks a process stopped on purpose while the cluster runs.
	stopped bool
}

// startProcess runs binary with its output appended to dir/logs/name.log.
// Detached processes get their own session and outlive this program; the
// others get their own process group and are killed when this program dies.
func startProcess(dir, name, binary string, args, env []string, detached bool) (*process, error) {
	logPath := filepath.Join(dir, "logs", name+".log")
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return nil, fmt.Errorf("create log dir: %w", err)
	}
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open log %s: %w", logPath, err)
	}
	// The child inherits the descriptor; ours is not needed after Start.
	defer logFile.Close()
	fmt.Fprintf(logFile, "### %s %s %s\n", time.Now().Format(time.RFC3339), binary, strings.Join(args, " "))

	cmd := exec.Command(binary, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = sysProcAttr(detached)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{Name: name, Binary: binary, Args: args, PID: cmd.Process.Pid, Log: logPath, exited: make(chan struct{})}
	p.StartTime, _, err = procStat(p.PID)
	if err != nil {
		_ = cmd.Process.Kill()
	}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	if err != nil {
		<-p.exited
		return nil, fmt.Errorf("read start time of %s: %w", name, err)
	}
	return p, nil
}

// running reports whether the process is still alive. For a process loaded
// from a state file, a PID now held by another program counts as exited.
func (p *process) running() bool {
	if p.exited != nil {
		select {
		case <-p.exited:
			return false
		default:
			return true
		}
	}
	start, zombie, err := procStat(p.PID)
	return err == nil && !zombie && start == p.StartTime
}

// exitError says how a process of ours ended, or nil if it is running.
func (p *process) exitError() error {
	if p.running() {
		return nil
	}
	if p.err != nil {
		return fmt.Errorf("%s exited: %w", p.Name, p.err)
	}
	return fmt.Errorf("%s exited", p.Name)
}

// stop ends the process's group: with SIGTERM first if grace is positive,
// then with SIGKILL, and waits until the process is gone.
func (p *process) stop(grace time.Duration) error {
	if grace > 0 {
		if err := p.signal(syscall.SIGTERM); err != nil || p.wait(grace) {
			return err
		}
	}
	if err := p.signal(syscall.SIGKILL); err != nil {
		return err
	}
	if !p.wait(10 * time.Second) {
		return fmt.Errorf("%s (pid %d) survived SIGKILL", p.Name, p.PID)
	}
	return nil
}

// signal signals the process's group, unless the process is gone.
func (p *process) signal(sig syscall.Signal) error {
	if !p.running() {
		return nil
	}
	// The group id is the PID: every process is started as a group leader.
	if err := syscall.Kill(-p.PID, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signal %s (pid %d): %w", p.Name, p.PID, err)
	}
	return nil
}

// wait reports whether the process exited within timeout.
func (p *process) wait(timeout time.Duration) bool {
	if p.exited != nil {
		select {
		case <-p.exited:
			return true
		case <-time.After(timeout):
			return false
		}
	}
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if !p.running() {
			return true
		}
	}
	return !p.running()
}

// tail returns the last n lines of the process's log.
func (p *process) tail(n int) string {
	f, err := os.Open(p.Log)
	if err != nil {
		return fmt.Sprintf("(no log: %v)\n", err)
	}
	defer f.Close()
	// The last 64 KiB hold far more than the lines anyone prints.
	const window = 64 << 10
	if info, err := f.Stat(); err == nil && info.Size() > window {
		_, _ = f.Seek(-window, io.SeekEnd)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return fmt.Sprintf("(read log: %v)\n", err)
	}
	lines := bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n"))) + "\n"
}
