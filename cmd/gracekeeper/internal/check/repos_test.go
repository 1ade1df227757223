package check

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gracekeeper/gracekeeper/cmd/gracekeeper/internal/cli"
	"github.com/gracekeeper/gracekeeper/policies/policytest"
)

// exitCode is the exit code main gives err.
func exitCode(err error) int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, cli.ErrFindings):
		return 1
	}
	return 2
}

// packageDir is where the tests start, which relative dirs of runIn are in.
var packageDir, _ = os.Getwd()

// runIn runs check with args in dir, as a user in that directory would.
func runIn(t *testing.T, dir string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(packageDir, dir)
	}
	t.Chdir(dir)
	var err error
	var out, errOut bytes.Buffer
	err = runCheck(context.Background(), args, &out, &errOut)
	return out.String(), errOut.String(), exitCode(err)
}

// The fixture repositories under testdata/repos reproduce the shapes of
// microservices-demo, podinfo and kubernetes/examples that matter to check:
// CI workflows in hidden directories, .pre-commit-config.yaml, package.json
// and other tooling YAML and JSON, charts (with _helpers.tpl, NOTES.txt, a
// test hook, a conditional template), kustomize bases, overlays and a
// patch, Lists, JSON manifests, and a Go template outside any chart. Each
// runs "check ." and "check . -v" into a golden, exit code included: none
// may exit 2.
func TestCheckOfARepositoryAsItIs(t *testing.T) {
	goldens, err := filepath.Abs(filepath.Join("testdata", "golden"))
	if err != nil {
		t.Fatal(err)
	}
	for _, repo := range []string{"microservices", "podinfo", "examples"} {
		t.Run(repo, func(t *testing.T) {
			out, errOut, code := runIn(t, filepath.Join("testdata", "repos", repo), ".", "-v")
			if code == 2 {
				t.Fatalf("exit 2 on a repository as it is:\n%s%s", out, errOut)
			}
			got := fmt.Sprintf("%s%s\nexit %d\n", out, errOut, code)
			policytest.Golden(t, filepath.Join(goldens, repo+".txt"), []byte(got))
		})
	}
}

func TestCheckWithoutVerboseCountsWhatIsNoObjectOnOneLine(t *testing.T) {
	out, _, _ := runIn(t, filepath.Join("testdata", "repos", "microservices"), ".")
	if strings.Contains(out, "package.json") || !strings.Contains(out, "3 documents that are no Kubernetes object (-v lists them)") {
		t.Errorf("want one summary line, got:\n%s", out)
	}
}

// A kustomize patch is a partial object: in its kustomization it is applied,
// never judged alone; and findings name the file the object came from.
func TestCheckRendersAKustomizationWithItsPatch(t *testing.T) {
	out, errOut, code := runIn(t, filepath.Join("testdata", "repos", "microservices", "kustomize"), ".", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if strings.Contains(out, "frontend-replicas.yaml") {
		t.Errorf("the patch was judged as an object of its own:\n%s", out)
	}
	if !strings.Contains(out, `"file": "../kubernetes-manifests/frontend.yaml"`) {
		t.Errorf("findings must name the file the object came from:\n%s", out)
	}
}

func TestCheckRendersAChartWithValuesSetAndKubeVersion(t *testing.T) {
	dir := filepath.Join("testdata", "repos", "podinfo", "charts", "podinfo")
	out, errOut, code := runIn(t, dir, ".", "--set", "hpa.enabled=true", "--kube-version", "1.32")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	// With the HPA the chart renders one more object, which no rule reads;
	// below 1.33 the hook is exec sleep.
	if !strings.Contains(out, "horizontalpodautoscaler/release-name-podinfo: skipped") || !strings.Contains(out, `preStop exec "sleep 5"`) {
		t.Errorf("want the HPA rendered and an exec sleep hook, got:\n%s", out)
	}
	values := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(values, []byte("hpa: {enabled: true}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, _, _ := runIn(t, dir, ".", "--values", values); !strings.Contains(out, "horizontalpodautoscaler") {
		t.Errorf("--values must reach the chart, got:\n%s", out)
	}
	if _, errOut, code := runIn(t, dir, ".", "--values", filepath.Join(t.TempDir(), "nope.yaml")); code != 2 || !strings.Contains(errOut, "--values") {
		t.Errorf("a missing values file is an input error naming --values, got %d: %s", code, errOut)
	}
}

// --fix cannot write into a template: it says so, and --print-fixed prints
// the rendered objects with the patches applied.
func TestCheckFixOnAChartSaysItCannotWriteTemplates(t *testing.T) {
	src := filepath.Join("testdata", "repos", "podinfo", "charts", "podinfo")
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(dir, "templates", "deployment.yaml"))
	out, errOut, code := runIn(t, dir, ".", "--fix")
	after, _ := os.ReadFile(filepath.Join(dir, "templates", "deployment.yaml"))
	if !bytes.Equal(before, after) {
		t.Error("--fix changed a template")
	}
	if code != 0 || !strings.Contains(errOut, "--fix cannot write patches into its templates") || !strings.Contains(errOut, "--print-fixed") {
		t.Errorf("exit %d, want a warning that names --print-fixed:\n%s%s", code, out, errOut)
	}
	// The patches left out are in a warning, not an error: the summary must not send the reader to errors alone.
	if !strings.Contains(out, "The patches the errors and warnings name were not written") {
		t.Errorf("the summary must say which patches were not written, got:\n%s", out)
	}
	out, errOut, _ = runIn(t, dir, ".", "--fix", "--print-fixed")
	if !strings.Contains(out, "# Source: templates/deployment.yaml") || !strings.Contains(out, "preStop") ||
		!strings.Contains(errOut, "checked") {
		t.Errorf("want the fixed, rendered objects on stdout and the report on stderr, got:\n%s\n---\n%s", out, errOut)
	}
}

func TestCheckExcludeAndHiddenDirectories(t *testing.T) {
	dir := filepath.Join("testdata", "repos", "examples")
	tests := []struct {
		exclude []string
		absent  string
	}{
		{[]string{"--exclude", "staging"}, "staging/"},
		{[]string{"--exclude", "staging/**"}, "staging/"},
		{[]string{"--exclude", "*.json"}, "meteor-controller.json"},
		{[]string{"--exclude", "guestbook/all-in-one"}, "all-in-one"},
	}
	for _, tt := range tests {
		out, _, _ := runIn(t, dir, append([]string{"."}, tt.exclude...)...)
		if strings.Contains(out, tt.absent) {
			t.Errorf("%q: %s still checked:\n%s", tt.exclude, tt.absent, out)
		}
	}
	// A hidden directory named on the command line is read.
	out, _, code := runIn(t, filepath.Join("testdata", "repos", "microservices"), ".github", "-v")
	if code != 0 || !strings.Contains(out, ".github/workflows/ci.yaml#0: not a Kubernetes object") {
		t.Errorf("exit %d:\n%s", code, out)
	}
}

func TestCheckOfNothingWarnsAndFailsWithStrict(t *testing.T) {
	dir := t.TempDir()
	_, errOut, code := runIn(t, dir, ".")
	if code != 0 || !strings.Contains(errOut, "warning: no Kubernetes object found") {
		t.Errorf("exit %d, want a warning:\n%s", code, errOut)
	}
	if _, _, code := runIn(t, dir, ".", "--strict"); code != 1 {
		t.Errorf("--strict on nothing: exit %d, want 1", code)
	}
}

// The JUnit XML validates, with xmllint, against testdata/junit.xsd: the
// report format as Jenkins, GitLab and Azure Pipelines read it.
func TestCheckJUnitIsValid(t *testing.T) {
	xmllint, err := exec.LookPath("xmllint")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("xmllint is missing: .ci/run installs it (Debian package libxml2-utils)")
		}
		t.Skip("xmllint is missing: install the Debian package libxml2-utils to validate the JUnit XML")
	}
	schema, err := filepath.Abs(filepath.Join("testdata", "junit.xsd"))
	if err != nil {
		t.Fatal(err)
	}
	out, _, code := runIn(t, filepath.Join("testdata", "repos", "examples"), ".", "-o", "junit")
	if code != 1 {
		t.Fatalf("exit %d", code)
	}
	file := filepath.Join(t.TempDir(), "report.xml")
	if err := os.WriteFile(file, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	if msg, err := exec.Command(xmllint, "--noout", "--schema", schema, file).CombinedOutput(); err != nil {
		t.Fatalf("not valid JUnit XML: %v\n%s\n%s", err, msg, out)
	}
	for _, want := range []string{`<testsuite name="guestbook/all-in-one/guestbook-all-in-one.yaml" tests="2" failures="1" errors="0" skipped="1">`,
		`<failure type="recreate-strategy"`, `<skipped message="gracekeeper has no rules for v1 Service">`} {
		if !strings.Contains(out, want) {
			t.Errorf("want %s in:\n%s", want, out)
		}
	}
	// The schema does reject: a test case without a name is not JUnit.
	broken := strings.Replace(out, `<testcase name=`, `<testcase title=`, 1)
	if err := os.WriteFile(file, []byte(broken), 0o600); err != nil {
		t.Fatal(err)
	}
	if exec.Command(xmllint, "--noout", "--schema", schema, file).Run() == nil {
		t.Fatal("the schema accepted a test case without a name, so this test checks nothing")
	}
}

// A chart that does not render is an input error naming the chart and what
// the renderer said; one whose dependencies are not vendored says how to get
// them.
func TestCheckNamesAChartThatDoesNotRender(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"needs-value/Chart.yaml":               "apiVersion: v2\nname: needs-value\nversion: 0.1.0\n",
		"needs-value/templates/pod.yaml":       "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: a\n    image: {{ required \"image is required\" .Values.image }}\n",
		"needs-dependency/Chart.yaml":          "apiVersion: v2\nname: needs-dependency\nversion: 0.1.0\ndependencies:\n- name: redis\n  version: 1.0.0\n  repository: https://charts.example.com\n",
		"needs-dependency/templates/note.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
	}
	for name, text := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, errOut, code := runIn(t, dir, ".")
	if code != 2 || !strings.Contains(errOut, "needs-value: render the Helm chart") || !strings.Contains(errOut, "image is required") ||
		!strings.Contains(errOut, `needs-dependency: the chart's dependencies redis are not in its charts/ directory: run "helm dependency build needs-dependency" first`) {
		t.Errorf("exit %d:\n%s", code, errOut)
	}
	if out, _, code := runIn(t, dir, "needs-value", "--set", "image=nginx:1.27"); code != 0 || !strings.Contains(out, "pod/p") {
		t.Errorf("with the value set: exit %d:\n%s", code, out)
	}
}

// A file kubectl cannot read is an input error that prints as
// "file:line: kubectl cannot read this file: ...": the ".yaml: " that ends
// the file name is not the YAML library's "yaml: line N: " (it once printed
// "app.yaml:12: app. kubectl cannot ..."). JSON carries the same line.
func TestCheckNamesTheLineKubectlRefuses(t *testing.T) {
	dir := t.TempDir()
	text := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: base\n  labels: &labels\n    app: web\n" +
		"---\napiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  labels: *labels\nspec:\n  ports: [{port: 80}]\n"
	if err := os.WriteFile(filepath.Join(dir, "app.yaml"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := runIn(t, dir, "app.yaml")
	if want := "error: app.yaml:12: kubectl cannot read this file: error converting YAML to JSON: yaml: unknown anchor 'labels' referenced"; code != 2 || !strings.Contains(errOut, want) {
		t.Errorf("exit %d, want 2 and %q in:\n%s", code, want, errOut)
	}
	out, _, _ := runIn(t, dir, "app.yaml", "-o", "json")
	var r struct {
		Errors []struct {
			File    string
			Line    int
			Message string
		}
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil || len(r.Errors) != 1 || r.Errors[0].File != "app.yaml" || r.Errors[0].Line != 12 ||
		!strings.HasPrefix(r.Errors[0].Message, "kubectl cannot read this file: ") {
		t.Errorf("want one error at app.yaml line 12 (%v), got %+v", err, r.Errors)
	}
}

// A chart whose kubeVersion excludes --kube-version (helm template refuses
// it) is rendered anyway, with a warning that names the constraint and the
// flag: the default --kube-version must not fail a gate on a chart that
// targets newer clusters.
func TestCheckWarnsWhenTheChartsKubeVersionExcludesTheTarget(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(filepath.Join("testdata", "repos", "podinfo", "charts", "podinfo"))); err != nil {
		t.Fatal(err)
	}
	meta, err := os.ReadFile(filepath.Join(dir, "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(meta), "\n")
	lines = slices.DeleteFunc(lines, func(l string) bool { return strings.HasPrefix(l, "kubeVersion:") })
	meta = []byte(strings.Join(append(lines, `kubeVersion: ">=1.35.0-0"`), "\n") + "\n")
	if err := os.WriteFile(filepath.Join(dir, "Chart.yaml"), meta, 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := runIn(t, dir, ".")
	want := `the chart requires kubeVersion >=1.35.0-0, which Kubernetes v1.33 (--kube-version) is not`
	if code != 0 || !strings.Contains(errOut, want) || !strings.Contains(out, "deployment/release-name-podinfo") {
		t.Errorf("exit %d, want 0, the objects rendered and a warning %q:\n%s%s", code, want, out, errOut)
	}
	if _, errOut, code := runIn(t, dir, ".", "--kube-version", "1.35"); code != 0 || strings.Contains(errOut, "kubeVersion") {
		t.Errorf("with a --kube-version the chart accepts, exit %d, want 0 and no warning:\n%s", code, errOut)
	}
}
