package check

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gracekeeper/gracekeeper/cmd/gracekeeper/internal/cli"
	"github.com/gracekeeper/gracekeeper/cmd/gracekeeper/internal/report"
	"github.com/gracekeeper/gracekeeper/policies/policytest"
)

// runCheckIn runs "gracekeeper check" with stdin and returns its outputs.
func runCheckIn(t *testing.T, in string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	stdin = strings.NewReader(in)
	t.Cleanup(func() { stdin = os.Stdin })
	var out, errOut bytes.Buffer
	err = runCheck(context.Background(), args, &out, &errOut)
	return out.String(), errOut.String(), err
}

// runCheck runs the check command as main does, with its flag parsing.
func runCheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cmd := NewCommand()
	cmd.SetArgs(args)
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	return cmd.ExecuteContext(ctx)
}

func copyTo(t *testing.T, dir, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "check", name))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCheckReportsTheSeedScenarioAndExitsZero(t *testing.T) {
	out, _, err := runCheckIn(t, "", "-f", "testdata/check/seed.yaml")
	if err != nil {
		t.Fatalf("a manifest with only patches and warnings must pass, got %v", err)
	}
	policytest.Golden(t, "testdata/check/seed.txt", []byte(out))
}

func TestCheckUsesExecBelowKubernetes133(t *testing.T) {
	out, _, err := runCheckIn(t, "", "-f", "testdata/check/seed.yaml", "--kube-version", "1.32")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, `add preStop exec "sleep 5" to container "nginx"`) {
		t.Errorf("want the exec fallback below 1.33, got:\n%s", out)
	}
}

func TestCheckJSONIsStable(t *testing.T) {
	out, _, err := runCheckIn(t, "", "-f", "testdata/check/mixed.yaml", "-o", "json")
	if !errors.Is(err, cli.ErrFindings) {
		t.Fatalf("a Recreate Deployment must fail the check with exit 1, got %v", err)
	}
	policytest.Golden(t, "testdata/check/mixed.json", []byte(out))
}

func TestCheckFixRewritesFilesKeepingCommentsAndUnknownFields(t *testing.T) {
	dir := t.TempDir()
	path := copyTo(t, dir, "mixed.yaml")
	if _, _, err := runCheckIn(t, "", "-f", dir, "--fix"); !errors.Is(err, cli.ErrFindings) {
		t.Fatalf("--fix cannot fix a denial, so the exit is still 1; got %v", err)
	}
	fixed, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	policytest.Golden(t, "testdata/check/mixed.fixed.yaml", fixed)
	for _, keep := range []string{"# too few for rollout undo", "futureField: keep-me", "kind: Service", "schedule: \"0 3 * * *\""} {
		if !strings.Contains(string(fixed), keep) {
			t.Errorf("--fix lost %q", keep)
		}
	}
	out, _, _ := runCheckIn(t, "", "-f", path)
	if !strings.Contains(out, "0 patches") {
		t.Errorf("checking the fixed file must find nothing to patch, got:\n%s", out)
	}
}

func TestCheckFixFromStdinWritesManifestsToStdout(t *testing.T) {
	seed, _ := os.ReadFile("testdata/check/seed.yaml")
	out, report, err := runCheckIn(t, string(seed), "-f", "-", "--fix")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "preStop:") || !strings.HasPrefix(out, "# kubectl create deployment") {
		t.Errorf("stdout must hold the fixed manifest, got:\n%s", out)
	}
	if !strings.Contains(report, "The patches were written") {
		t.Errorf("the report goes to stderr when the manifests go to stdout, got:\n%s", report)
	}
}

// With stdin among other files, stdout holds only the fixed stdin, so it
// can be piped on; the report (in any format) goes to stderr.
func TestCheckFixFromStdinAndFilesKeepsStdoutForTheManifests(t *testing.T) {
	seed, _ := os.ReadFile("testdata/check/seed.yaml")
	file := copyTo(t, t.TempDir(), "styles-compact.yaml")
	out, report, err := runCheckIn(t, string(seed), "-f", "-", "-f", file, "--fix", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "# kubectl create deployment") || strings.Contains(out, `"summary"`) {
		t.Errorf("stdout must hold only the fixed manifest from stdin, got:\n%s", out)
	}
	if !strings.Contains(report, `"summary"`) || !strings.Contains(report, file) {
		t.Errorf("the report of every source goes to stderr, got:\n%s", report)
	}
}

func TestCheckStrictFailsOnAnyFinding(t *testing.T) {
	if _, _, err := runCheckIn(t, "", "-f", "testdata/check/seed.yaml", "--strict"); !errors.Is(err, cli.ErrFindings) {
		t.Fatalf("--strict must exit 1 on patches and warnings, got %v", err)
	}
}

func TestCheckBadInputNamesTheFileAndDocument(t *testing.T) {
	dir := t.TempDir()
	badConfig := filepath.Join(dir, "config.yaml")
	os.WriteFile(badConfig, []byte("preStop:\n  sleepSecond: 5\n"), 0o644)
	tests := []struct {
		name, stdin string
		args        []string
		want        string
	}{
		{name: "a file that is not YAML", stdin: "a: [", args: []string{"-f", "-"}, want: "-: document 0: not valid YAML"},
		{name: "a document without a kind", stdin: "apiVersion: v1\n---\nmetadata: {}\n", args: []string{"-f", "-"}, want: "-#0: missing apiVersion or kind"},
		{name: "a field of the wrong type", stdin: "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {replicas: three}\n", args: []string{"-f", "-"}, want: `-:4: Deployment x (-#0): spec.replicas: want an integer, got the string "three"`},
		{name: "a number in a list item", stdin: "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: a\n    ports:\n    - containerPort: \"80\"\n", args: []string{"-"},
			want: `-:8: Pod p (-#0): spec.containers.0.ports.0.containerPort: want an integer, got the string "80"`},
		{name: "a Go template named on the command line", stdin: "apiVersion: v1\nkind: Pod\nmetadata: {name: {{ .Release.Name }}}\n", args: []string{"-"}, want: "a Go template; render it"},
		{name: "a Kubernetes version that is none", args: []string{"-", "--kube-version", "banana"}, want: `--kube-version "banana" is not a Kubernetes version`},
		{name: "--print-fixed without --fix", args: []string{"-", "--print-fixed"}, want: "--print-fixed prints what --fix changes: add --fix"},
		{name: "a glob that is none", args: []string{"-", "--exclude", "a[b"}, want: `--exclude "a[b" is not a valid glob`},
		{name: "an unknown flag", args: []string{"-", "--frobnicate"}, want: "unknown flag: --frobnicate"},
		{name: "a missing file", args: []string{"-f", filepath.Join(dir, "nope.yaml")}, want: "nope.yaml: no such file"},
		{name: "a config with an unknown field", stdin: "", args: []string{"-f", "-", "--config", badConfig}, want: `unknown field "preStop.sleepSecond"`},
		{name: "an unknown output format", args: []string{"-f", "-", "-o", "yaml"}, want: `--output must be text, json, sarif or junit, not "yaml"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, err := runCheckIn(t, tt.stdin, tt.args...)
			if err == nil || errors.Is(err, cli.ErrFindings) {
				t.Fatalf("want exit 2, got %v", err)
			}
			if all := out + errOut + err.Error(); !strings.Contains(all, tt.want) {
				t.Errorf("want %q in the output, got:\n%s", tt.want, all)
			}
		})
	}
}

// An input error is an object in the JSON too: file, line and the message in
// words.
func TestCheckJSONErrorsCarryFileAndLine(t *testing.T) {
	out, _, err := runCheckIn(t, "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {replicas: \"3\"}\n", "-", "-o", "json")
	if exitCode(err) != 2 {
		t.Fatalf("want exit 2, got %v", err)
	}
	var rep report.Check
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Errors) != 1 || rep.Errors[0].File != "-" || rep.Errors[0].Line != 4 ||
		!strings.HasSuffix(rep.Errors[0].Message, `spec.replicas: want an integer, got the string "3"`) {
		t.Errorf("errors %+v", rep.Errors)
	}
}
