package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// ErrNotRunning is returned by Attach when the directory holds no cluster.
var ErrNotRunning = errors.New("no cluster state")

const stateFile = "state.json"

// state is what another program needs to use or stop a detached cluster.
type state struct {
	Server          string     `json:"server"`
	Kubeconfig      string     `json:"kubeconfig"`
	BinDir          string     `json:"binDir"`
	WebhookClientCA string     `json:"webhookClientCA"`
	Processes       []*process `json:"processes"`
	Webhook         *webhook   `json:"webhook,omitempty"`
}

// saveState writes the state file atomically. The caller holds c.mu.
func (c *Cluster) saveState() error {
	s := state{Server: c.Server, Kubeconfig: c.Kubeconfig, BinDir: c.BinDir, WebhookClientCA: c.WebhookClientCA, Processes: c.procs, Webhook: c.webhook}
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encode cluster state: %w", err)
	}
	path := filepath.Join(c.Dir, stateFile)
	if err := os.WriteFile(path+".tmp", data, 0o644); err != nil {
		return fmt.Errorf("write cluster state: %w", err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		return fmt.Errorf("write cluster state: %w", err)
	}
	return nil
}

// Attach returns the detached cluster recorded in dir by an earlier Start,
// for make down to Stop it, or to check whether it is up. Its processes are
// not children of this program; they are recognised by PID and start time.
// It returns an error wrapping ErrNotRunning if dir holds no state.
func Attach(dir string) (*Cluster, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("resolve cluster dir: %w", err)
	}
	data, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", dir, ErrNotRunning)
	}
	if err != nil {
		return nil, fmt.Errorf("read cluster state: %w", err)
	}
	var s state
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("decode cluster state %s: %w", filepath.Join(dir, stateFile), err)
	}
	c := &Cluster{
		Dir: dir, BinDir: s.BinDir, Kubeconfig: s.Kubeconfig, Server: s.Server, WebhookClientCA: s.WebhookClientCA,
		opts:    Options{Detached: true, Timeout: 90 * time.Second, Progress: func(string, ...any) {}},
		procs:   s.Processes,
		webhook: s.Webhook,
	}
	if c.webhook != nil {
		for _, p := range c.procs {
			if p.Name == webhookName {
				c.webhook.proc = p // the last one started is the current one
			}
		}
	}
	if err := c.connect(); err != nil {
		return nil, err
	}
	return c, nil
}

// Running reports how many of the cluster's processes are alive.
func (c *Cluster) Running() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, p := range c.procs {
		if p.running() {
			n++
		}
	}
	return n
}
