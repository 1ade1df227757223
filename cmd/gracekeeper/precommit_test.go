package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The hook of .pre-commit-hooks.yaml, run by the real pre-commit with
// try-repo on a repository holding a Recreate Deployment: pre-commit builds
// the CLI with go install from this repository's HEAD (commit a change to
// the hook before running this) and the hook fails with the denial; once
// the manifest is fixed it passes.
func TestPreCommitHookRunsWithTryRepo(t *testing.T) {
	preCommit, err := exec.LookPath("pre-commit")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("pre-commit is missing: .ci/run installs it (Debian package pre-commit)")
		}
		t.Skip("pre-commit is missing: install the Debian package pre-commit to run the hook with pre-commit try-repo")
	}
	if testing.Short() {
		t.Skip("-short: pre-commit builds the CLI, which takes minutes the first time")
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	// pre-commit gives the build a GOPATH of its own; keep the module and
	// build caches, so the build downloads nothing it has.
	var env []string
	for _, name := range []string{"GOMODCACHE", "GOCACHE"} {
		out, err := exec.Command("go", "env", name).Output()
		if err != nil {
			t.Fatal(err)
		}
		env = append(env, name+"="+strings.TrimSpace(string(out)))
	}
	repo := t.TempDir()
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-c", "user.name=test", "-c", "user.email=test@example.com"}, args...)...)
		cmd.Dir = repo
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	write := func(name, text string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(repo, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	manifest, err := os.ReadFile(filepath.Join("testdata", "readme", "manifests", "worker.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	git("init", "-q")
	write("worker.yaml", string(manifest))
	write("package.json", `{"name": "worker"}`+"\n")
	git("add", ".")
	git("commit", "-qm", "worker")
	tryRepo := func() (string, int) {
		cmd := exec.Command(preCommit, "try-repo", root, "gracekeeper-check", "--all-files")
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), env...)
		out, _ := cmd.CombinedOutput()
		return string(out), cmd.ProcessState.ExitCode()
	}

	out, code := tryRepo()
	if code != 1 || !strings.Contains(out, "recreate-strategy") || !strings.Contains(out, "gracekeeper check") {
		t.Fatalf("want the hook to fail on the Recreate strategy, got exit %d:\n%s", code, out)
	}
	write("worker.yaml", strings.Replace(string(manifest), "type: Recreate", "type: RollingUpdate", 1))
	git("commit", "-qam", "rolling update")
	if out, code := tryRepo(); code != 0 || !strings.Contains(out, "Passed") {
		t.Fatalf("want the hook to pass, got exit %d:\n%s", code, out)
	}
}
