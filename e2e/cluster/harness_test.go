package cluster

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"

	"github.com/gracekeeper/gracekeeper/certs"
	"github.com/gracekeeper/gracekeeper/deploy"
)

func TestEveryChartWebhookIsPointedAtLoopbackWithItsOwnPath(t *testing.T) {
	caPEM := []byte("test CA")
	install, err := renderForLoopback(nil, 9443, caPEM)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := deploy.RenderChart(WebhookNamespace, nil)
	if err != nil {
		t.Fatal(err)
	}
	chartMutating, chartValidating, err := deploy.WebhookConfigurations(objs)
	if err != nil {
		t.Fatal(err)
	}

	var urls []string
	check := func(name string, got, chart admissionregistrationv1.WebhookClientConfig) {
		t.Helper()
		want := "https://127.0.0.1:9443" + *chart.Service.Path
		if got.URL == nil || *got.URL != want || got.Service != nil || !bytes.Equal(got.CABundle, caPEM) {
			t.Errorf("webhook %s: clientConfig %+v, want url %s, the test CA and no service", name, got, want)
		}
		if got.URL != nil {
			urls = append(urls, *got.URL)
		}
	}
	for i, w := range install.mutating.Webhooks {
		check(w.Name, w.ClientConfig, chartMutating.Webhooks[i].ClientConfig)
		// Everything but clientConfig must be what users install.
		w.ClientConfig = chartMutating.Webhooks[i].ClientConfig
		sameBeyondClientConfig(t, w, chartMutating.Webhooks[i])
	}
	for i, w := range install.validating.Webhooks {
		check(w.Name, w.ClientConfig, chartValidating.Webhooks[i].ClientConfig)
		w.ClientConfig = chartValidating.Webhooks[i].ClientConfig
		sameBeyondClientConfig(t, w, chartValidating.Webhooks[i])
	}
	wantURLs := []string{
		"https://127.0.0.1:9443/mutate/enforce", "https://127.0.0.1:9443/mutate/audit",
		"https://127.0.0.1:9443/validate/enforce", "https://127.0.0.1:9443/validate/audit",
		"https://127.0.0.1:9443/validate/namespaces",
	}
	if strings.Join(urls, " ") != strings.Join(wantURLs, " ") {
		t.Errorf("webhook URLs\n got %v\nwant %v", urls, wantURLs)
	}
	if !install.hasNamespaceCheck {
		t.Error("the mode-label entry (/validate/namespaces) was not noticed, so StartWebhook would not wait for the API server")
	}
}

// sameBeyondClientConfig fails unless got, whose clientConfig was reset to
// the chart's, equals what the chart renders.
func sameBeyondClientConfig(t *testing.T, got, chart any) {
	t.Helper()
	gotJSON, _ := json.Marshal(got)
	chartJSON, _ := json.Marshal(chart)
	if !bytes.Equal(gotJSON, chartJSON) {
		t.Errorf("webhook changed beyond clientConfig:\n got %s\nwant %s", gotJSON, chartJSON)
	}
}

func TestChartValuesReachTheWebhooksPolicyConfiguration(t *testing.T) {
	install, err := renderForLoopback(map[string]any{"config": map[string]any{"recreate": "convert"}}, 9443, []byte("ca"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(install.config, "kind: Configuration") || !strings.Contains(install.config, "recreate: convert") {
		t.Errorf("config.yaml for --config:\n%s\nwant the chart's Configuration with recreate: convert", install.config)
	}
}

func TestStoppingAProcessEndsItsChildrenToo(t *testing.T) {
	dir := t.TempDir()
	p, err := startProcess(dir, "shell", "/bin/sh", []string{"-c", "sleep 300 & echo $! > child.pid; wait"}, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	child := waitForPIDFile(t, filepath.Join(dir, "child.pid"))
	if err := p.stop(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	// The group was signalled; on a loaded machine the child may take a moment to die.
	for deadline := time.Now().Add(5 * time.Second); alive(child) && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	if alive(child) {
		t.Errorf("the shell's child sleep (pid %d) outlived stop by 5s", child)
	}
	if !strings.Contains(p.tail(5), "/bin/sh -c sleep 300") {
		t.Errorf("log tail %q does not show the command line", p.tail(5))
	}
}

func TestARecordedPIDNowHeldByAnotherProgramIsLeftAlone(t *testing.T) {
	other := exec.Command("sleep", "300")
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = other.Process.Kill(); _ = other.Wait() }()
	start, _, err := procStat(other.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	recorded := &process{Name: "etcd", PID: other.Process.Pid, StartTime: start + 1}
	if recorded.running() {
		t.Error("a PID with another start time counts as our process")
	}
	if err := recorded.stop(time.Second); err != nil {
		t.Fatal(err)
	}
	if !alive(other.Process.Pid) {
		t.Error("stop signalled a program that merely reuses a recorded PID")
	}
}

func TestDownStopsTheDetachedProcessesRecordedByUp(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "up")
	up := &Cluster{Dir: dir, Kubeconfig: filepath.Join(dir, "kubeconfig"), opts: Options{Detached: true}}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ca, err := certs.GenerateCA("test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := writeKubeconfig(up.Kubeconfig, "https://127.0.0.1:1", ca.CertPEM, "admin", "token"); err != nil {
		t.Fatal(err)
	}
	p, err := up.startRecorded("sleeper", "/bin/sleep", nil, []string{"300"})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = p.stop(time.Second) }()

	down, err := Attach(dir)
	if err != nil {
		t.Fatal(err)
	}
	if n := down.Running(); n != 1 {
		t.Fatalf("Attach sees %d running processes, want 1", n)
	}
	if err := down.Stop(); err != nil {
		t.Fatal(err)
	}
	if !p.wait(5 * time.Second) {
		t.Error("the detached process is still running after Stop")
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("Stop left %s behind (stat: %v)", dir, err)
	}
	if err := down.Stop(); err != nil {
		t.Errorf("a second Stop: %v, want nil", err)
	}
}

func waitForPIDFile(t *testing.T, path string) int {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		data, err := os.ReadFile(path)
		if pid, convErr := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && convErr == nil {
			return pid
		}
	}
	t.Fatalf("%s was never written", path)
	return 0
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	_, zombie, err := procStat(pid)
	return err == nil && !zombie && syscall.Kill(pid, 0) == nil
}
