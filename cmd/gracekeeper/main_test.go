package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAuditFailsClearlyWhenTheServerIsUnreachable runs the whole command: the
// exit code and the "gracekeeper audit:" prefix come from main.
func TestAuditFailsClearlyWhenTheServerIsUnreachable(t *testing.T) {
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	// Port 1 on loopback refuses connections.
	err := os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: x}}]
contexts: [{name: nowhere, context: {cluster: c, user: u, namespace: shop}}]
current-context: other
`), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr strings.Builder
	code := run(t.Context(), []string{"audit", "--kubeconfig", kubeconfig, "--context", "nowhere"}, &stdout, &stderr)
	if code != 2 || !strings.Contains(stderr.String(), "gracekeeper audit: cannot reach the API server at https://127.0.0.1:1") {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr.String())
	}
	if stdout.Len() > 0 {
		t.Errorf("nothing was read, so no report is printed; got:\n%s", stdout.String())
	}
}

func TestCertsCommandIsRegistered(t *testing.T) {
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	if code := run(t.Context(), []string{"certs", "generate", "--dir", dir, "--host", "localhost"}, &stdout, &stderr); code != 0 {
		t.Fatalf("gracekeeper certs generate exit code %d, stderr: %s", code, stderr.String())
	}
	if code := run(t.Context(), []string{"certs", "generate", "--dir", dir}, &stdout, &stderr); code != 2 {
		t.Errorf("gracekeeper certs generate without --host exit code %d, want 2", code)
	}
}

// As the kubectl plugin (kubectl runs kubectl-gracekeeper) the CLI names
// itself "kubectl gracekeeper" in help and errors.
func TestKubectlPluginNamesItself(t *testing.T) {
	if got := pluginName("/home/u/.krew/bin/kubectl-gracekeeper"); got != "kubectl gracekeeper" {
		t.Errorf("pluginName = %q", got)
	}
	if got := pluginName("/usr/local/bin/gracekeeper"); got != "" {
		t.Errorf("pluginName = %q", got)
	}
	root := newRootCommand("kubectl gracekeeper")
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs([]string{"check", "--help"})
	if err := root.Execute(); err != nil || !strings.Contains(out.String(), "kubectl gracekeeper check [PATH...]") {
		t.Errorf("help as a plugin (%v):\n%s", err, out.String())
	}
	// The examples run the plugin too, also after a pipe; a file name keeps its own.
	for _, want := range []string{"\n  kubectl gracekeeper check .\n", "| kubectl gracekeeper check - -o sarif > gracekeeper.sarif"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("help as a plugin must show %q in the examples:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "\n  gracekeeper ") {
		t.Errorf("an example as a plugin still runs gracekeeper:\n%s", out.String())
	}
}

// The command line as kubectl users know it: help per command, --version,
// completion, and usage errors (exit 2) that name the flag.
func TestCommandLineWorksLikeKubectl(t *testing.T) {
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"help", "audit"}, 0, "--request-timeout"},
		{[]string{"audit", "--help"}, 0, "--as string"},
		{[]string{"help", "serve"}, 0, "--tls-dir"},
		{[]string{"--version"}, 0, "dev"},
		{[]string{"version"}, 0, "dev"},
		{[]string{"completion", "bash"}, 0, "bash completion"},
		{[]string{"__complete", "check", "-o", ""}, 0, "sarif\njunit"},
		{[]string{"check", "--kube-version", "banana", "-"}, 2, `gracekeeper check: usage error: --kube-version "banana" is not a Kubernetes version`},
		{[]string{"check", "-o", "yaml", "-"}, 2, `--output must be text, json, sarif or junit, not "yaml"`},
		{[]string{"audit", "-o", "yaml"}, 2, `--output must be text or json, not "yaml"`},
		{[]string{"audit", "--request-timeout", "soon"}, 2, `usage error: --request-timeout "soon"`},
		{[]string{"nope"}, 2, `unknown command "nope" for "gracekeeper"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(t.Context(), tt.args, &stdout, &stderr)
			if all := stdout.String() + stderr.String(); code != tt.code || !strings.Contains(all, tt.want) {
				t.Errorf("exit %d, want %d with %q:\n%s", code, tt.code, tt.want, all)
			}
		})
	}
}
