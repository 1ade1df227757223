package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/gracekeeper/gracekeeper/policies/policytest"
)

// TestMain lets the test binary stand in for the gracekeeper binary, so
// that shell commands can run it: with GRACEKEEPER_RUN_MAIN=1 it is main.
func TestMain(m *testing.M) {
	if os.Getenv("GRACEKEEPER_RUN_MAIN") == "1" {
		main()
	}
	os.Exit(m.Run())
}

// readmeSection is the README's "Checking manifests in CI" section.
func readmeSection(t *testing.T) string {
	t.Helper()
	return policytest.DocSection(t, filepath.Join("..", "..", "README.md"), "Checking manifests in CI")
}

var fence = regexp.MustCompile("(?s)```(sh|yaml)\n(.*?)```")

// blocks are the section's fenced blocks in a language.
func blocks(section, lang string) []string {
	var out []string
	for _, m := range fence.FindAllStringSubmatch(section, -1) {
		if m[1] == lang {
			out = append(out, m[2])
		}
	}
	return out
}

// toolsOnPath makes a bin directory with gracekeeper (this test binary) and,
// when they are not on PATH, kubectl from the e2e cache and helm built by go
// run; it returns the PATH and the tools it could not provide.
func toolsOnPath(t *testing.T) (string, []string) {
	t.Helper()
	bin := t.TempDir()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	shim := "#!/bin/sh\nGRACEKEEPER_RUN_MAIN=1 exec " + self + " \"$@\"\n"
	if err := os.WriteFile(filepath.Join(bin, "gracekeeper"), []byte(shim), 0o755); err != nil {
		t.Fatal(err)
	}
	var missing []string
	if _, err := exec.LookPath("kubectl"); err != nil {
		cached, _ := filepath.Abs(filepath.Join("..", "..", ".cache", "bin", "v1.37.2", "kubectl"))
		if dir := os.Getenv("GRACEKEEPER_E2E_BIN"); dir != "" {
			cached = filepath.Join(dir, "kubectl")
		}
		if _, err := os.Stat(cached); err == nil {
			if err := os.Symlink(cached, filepath.Join(bin, "kubectl")); err != nil {
				t.Fatal(err)
			}
		} else {
			missing = append(missing, "kubectl")
		}
	}
	if _, err := exec.LookPath("helm"); err != nil {
		// helm at the version go.mod requires, through the Go module proxy.
		helm := "#!/bin/sh\nGOFLAGS= exec go run helm.sh/helm/v4/cmd/helm@v4.3.2 \"$@\"\n"
		if os.Getenv("CI") == "true" || os.Getenv("GRACEKEEPER_README_HELM") == "1" {
			if err := os.WriteFile(filepath.Join(bin, "helm"), []byte(helm), 0o755); err != nil {
				t.Fatal(err)
			}
		} else {
			missing = append(missing, "helm")
		}
	}
	return bin + string(os.PathListSeparator) + os.Getenv("PATH"), missing
}

// Every shell command of the README's CI section runs as written, in a
// repository shaped as the section assumes (testdata/readme: a chart, a
// kustomize base and overlay with a patch, plain manifests, a test
// directory, a CI workflow and a package.json), and exits 0 or 1, never 2.
func TestREADMECICommandsRunAsWritten(t *testing.T) {
	section := readmeSection(t)
	path, missing := toolsOnPath(t)
	var commands []string
	for _, block := range blocks(section, "sh") {
		for line := range strings.SplitSeq(block, "\n") {
			if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
				commands = append(commands, line)
			}
		}
	}
	if len(commands) < 8 {
		t.Fatalf("found %d commands in the section", len(commands))
	}
	for _, command := range commands {
		t.Run(command, func(t *testing.T) {
			for _, tool := range missing {
				if strings.Contains(command, tool+" ") {
					t.Skipf("%s is not installed (CI=true or GRACEKEEPER_README_HELM=1 builds helm with go run; make builds kubectl into .cache/bin)", tool)
				}
			}
			dir := t.TempDir()
			if err := os.CopyFS(dir, os.DirFS(filepath.Join("testdata", "readme"))); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command("bash", "-o", "pipefail", "-c", command)
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "PATH="+path)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			err := cmd.Run()
			code := cmd.ProcessState.ExitCode()
			if err != nil && code != 1 {
				t.Fatalf("exit %d (%v):\n%s", code, err, out.String())
			}
			if !strings.Contains(command, ">") && !strings.Contains(out.String(), "checked") {
				t.Errorf("want check's report, got:\n%s", out.String())
			}
		})
	}
}

// The pre-commit configuration names a hook of .pre-commit-hooks.yaml, and
// the workflow passes the Action inputs action.yml has and uploads the SARIF
// file it writes.
func TestREADMEIntegrationsMatchTheHookAndTheAction(t *testing.T) {
	yamls := blocks(readmeSection(t), "yaml")
	if len(yamls) != 2 {
		t.Fatalf("want the pre-commit configuration and the workflow, found %d YAML blocks", len(yamls))
	}
	var preCommit struct {
		Repos []struct {
			Repo  string
			Hooks []struct{ ID string }
		}
	}
	if err := yaml.Unmarshal([]byte(yamls[0]), &preCommit); err != nil {
		t.Fatal(err)
	}
	var hooks []struct{ ID string }
	data, _ := os.ReadFile(filepath.Join("..", "..", ".pre-commit-hooks.yaml"))
	if err := yaml.Unmarshal(data, &hooks); err != nil || len(hooks) == 0 {
		t.Fatalf(".pre-commit-hooks.yaml: %v", err)
	}
	if len(preCommit.Repos) != 1 || len(preCommit.Repos[0].Hooks) != 1 || preCommit.Repos[0].Hooks[0].ID != hooks[0].ID {
		t.Errorf("the README's hook %+v is not %q", preCommit, hooks[0].ID)
	}

	var workflow struct {
		Jobs map[string]struct {
			Steps []struct {
				Uses string
				With map[string]string
			}
		}
	}
	if err := yaml.Unmarshal([]byte(yamls[1]), &workflow); err != nil {
		t.Fatal(err)
	}
	var action struct {
		Inputs map[string]struct{ Default string }
	}
	data, _ = os.ReadFile(filepath.Join("..", "..", "action.yml"))
	if err := yaml.Unmarshal(data, &action); err != nil {
		t.Fatal(err)
	}
	var used, uploaded bool
	for _, step := range workflow.Jobs["check"].Steps {
		switch {
		case strings.HasPrefix(step.Uses, "gracekeeper/gracekeeper@"):
			used = true
			for input := range step.With {
				if _, ok := action.Inputs[input]; !ok {
					t.Errorf("the workflow passes %q, which action.yml does not take", input)
				}
			}
		case strings.HasPrefix(step.Uses, "github/codeql-action/upload-sarif@"):
			uploaded = step.With["sarif_file"] == action.Inputs["sarif-file"].Default
		}
	}
	if !used || !uploaded {
		t.Errorf("want the Action and an upload of its SARIF file (%s), got %+v", action.Inputs["sarif-file"].Default, workflow)
	}
}
