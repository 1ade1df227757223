package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// serverProcess is a server the load test started, with its output in a log file.
type serverProcess struct {
	cmd    *exec.Cmd
	log    string
	exited chan struct{}
	err    error
}

func startServer(binary string, args []string, logPath string) (*serverProcess, error) {
	return startServerEnv(binary, args, nil, logPath)
}

// startServerEnv is startServer with variables added to the environment.
func startServerEnv(binary string, args, env []string, logPath string) (*serverProcess, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("create server log: %w", err)
	}
	// The child keeps its own descriptor.
	defer logFile.Close()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", binary, err)
	}
	p := &serverProcess{cmd: cmd, log: logPath, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

func (p *serverProcess) pid() int { return p.cmd.Process.Pid }

// waitReady polls url until it answers 200, for up to 30 s.
func (p *serverProcess) waitReady(ctx context.Context, url string, roots *x509.CertPool) error {
	return p.waitOK(ctx, url, &tls.Config{RootCAs: roots}, 30*time.Second, 100*time.Millisecond)
}

// waitOK polls url every interval until it answers 200, for up to timeout,
// and fails as soon as the process exits.
func (p *serverProcess) waitOK(ctx context.Context, url string, tlsConfig *tls.Config, timeout, interval time.Duration) error {
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: tlsConfig}}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-p.exited:
			return fmt.Errorf("exited before it was ready: %v\n%s", p.err, p.tail())
		default:
		}
		if resp, err := client.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready at %s after %s\n%s", url, timeout, p.tail())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
	}
}

// stop sends SIGTERM, then SIGKILL after 10 s, and waits for the exit.
func (p *serverProcess) stop() error {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
			return fmt.Errorf("signal pid %d: %w", p.pid(), err)
		}
		select {
		case <-p.exited:
			return nil
		case <-time.After(10 * time.Second):
		}
	}
	return fmt.Errorf("pid %d survived SIGKILL", p.pid())
}

// tail is the end of the server's log.
func (p *serverProcess) tail() string {
	data, err := os.ReadFile(p.log)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return "==> " + p.log + " <==\n" + strings.Join(lines, "\n")
}
