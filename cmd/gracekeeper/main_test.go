package main

import (
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
