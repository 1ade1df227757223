package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
)

// machine describes where the figures were taken.
type machine struct {
	cpus      int
	cpuModel  string
	memory    string
	kernel    string
	goVersion string
	// loadAverage is /proc/loadavg's 1-minute figure at the start: other
	// work on a shared machine shows up in the absolute times.
	loadAverage string
	// modules are the versions of the libraries on the measured path, in
	// the gracekeeper binary (gracekeeperModules).
	modules []string
}

func describeMachine() (machine, error) {
	m := machine{cpus: runtime.NumCPU(), goVersion: runtime.Version()}
	cpuinfo, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return m, fmt.Errorf("describe the machine: %w", err)
	}
	m.cpuModel = procField(string(cpuinfo), "model name")
	meminfo, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return m, fmt.Errorf("describe the machine: %w", err)
	}
	if kib, err := strconv.ParseFloat(strings.TrimSuffix(procField(string(meminfo), "MemTotal"), " kB"), 64); err == nil {
		m.memory = fmt.Sprintf("%.1f GiB", kib/(1<<20))
	}
	if kernel, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.kernel = strings.TrimSpace(string(kernel))
	}
	m.loadAverage = loadAverage()
	return m, nil
}

// procField is the value of the first "name : value" line of a /proc file.
func procField(text, name string) string {
	for line := range strings.Lines(text) {
		key, value, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(key) == name {
			return strings.TrimSpace(value)
		}
	}
	return "unknown"
}

func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	fields := strings.Fields(string(data))
	if len(fields) == 0 {
		return "unknown"
	}
	return fields[0]
}

// buildGo builds a package of this module into out.
func buildGo(ctx context.Context, out, pkg string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", out, pkg)
	if output, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", pkg, err, output)
	}
	return nil
}

func gracekeeperVersion(ctx context.Context, binary string) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, binary, "version")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s version: %w: %s", binary, err, stderr.String())
	}
	return strings.TrimSpace(stdout.String()), nil
}
