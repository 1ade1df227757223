package check

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	yaml "go.yaml.in/yaml/v3"

	"github.com/gracekeeper/gracekeeper/cmd/gracekeeper/internal/cli"
	"github.com/gracekeeper/gracekeeper/cmd/gracekeeper/internal/report"
	"github.com/gracekeeper/gracekeeper/policies"
	"github.com/gracekeeper/gracekeeper/policies/manifest"
)

// TestCheckFixChangesOnlyTheLinesOfTheFixes runs --fix on manifests in both
// sequence styles, with leading comment blocks, separators and several
// documents, and on a release manifest shaped like a generated one
// (shop.yaml: 12 Deployments, lists indented in some places and not in
// others); see assertMinimalFix.
func TestCheckFixChangesOnlyTheLinesOfTheFixes(t *testing.T) {
	for _, name := range []string{"styles-indented.yaml", "styles-compact.yaml", "shop.yaml"} {
		t.Run(name, func(t *testing.T) {
			assertMinimalFix(t, copyTo(t, t.TempDir(), name))
		})
	}
}

// The same holds for every manifest among the rule fixtures and the JSON
// patch fixtures, with the native sleep hook and with the exec fallback
// (which adds a list).
func TestCheckFixOfEveryRuleFixtureIsMinimal(t *testing.T) {
	raw, _ := filepath.Glob("../../policies/testdata/patches/*.json")
	tested := 0
	for _, path := range append(ruleFixtureManifests(t), raw...) {
		data, _ := os.ReadFile(path)
		for _, kubeVersion := range []string{"1.33", "1.32"} {
			t.Run(filepath.Base(path)+" at "+kubeVersion, func(t *testing.T) {
				copied := filepath.Join(t.TempDir(), filepath.Base(path))
				os.WriteFile(copied, data, 0o644)
				if assertMinimalFix(t, copied, "--kube-version", kubeVersion) {
					tested++
				}
			})
		}
	}
	if tested == 0 {
		t.Fatal("no rule fixture needed a fix, so this test checks nothing")
	}
}

// ruleFixtureManifests lists the rule fixtures that are plain manifests
// (policies/testdata/README.md), not Reviews or golden files.
func ruleFixtureManifests(t *testing.T) []string {
	t.Helper()
	paths, _ := filepath.Glob("../../../../policies/testdata/rules/*/*.yaml")
	var manifests []string
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(path, ".golden.yaml") && !strings.Contains(string(data), "kind: Review") {
			manifests = append(manifests, path)
		}
	}
	if len(manifests) == 0 {
		t.Fatal("no rule fixtures found")
	}
	return manifests
}

// assertMinimalFix runs --fix on a manifest file. The diff may hold at most
// 1.1 times the lines the fixes need, the fixed text must read back as the
// objects plus their patches, and a second --fix must change nothing. It
// reports whether there was anything to fix.
func assertMinimalFix(t *testing.T, path string, args ...string) bool {
	t.Helper()
	before, _ := os.ReadFile(path)
	out, _, err := runCheckIn(t, "", append([]string{"-f", path, "-o", "json"}, args...)...)
	if err != nil && !errors.Is(err, cli.ErrFindings) {
		t.Fatal(err)
	}
	var rep struct {
		Objects []struct {
			Source   string
			Findings []policies.Finding
		}
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	want := map[string][]policies.PatchOp{}
	fixLines, rewritten := 0, 0
	for _, o := range rep.Objects {
		for _, f := range o.Findings {
			if f.Action != policies.ActionPatch {
				continue
			}
			want[o.Source] = append(want[o.Source], f.Patch...)
			for _, op := range f.Patch {
				fixLines += linesOf(t, op)
				// A replaced value rewrites its line; in JSON an added
				// member also puts a comma on the line before it.
				if op.Op == "replace" || filepath.Ext(path) == ".json" {
					rewritten++
				}
			}
		}
	}
	if fixLines == 0 {
		return false
	}

	fix := append([]string{"-f", path, "--fix"}, args...)
	if _, _, err := runCheckIn(t, "", fix...); err != nil && !errors.Is(err, cli.ErrFindings) {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(path)
	added, removed := lineDiff(string(before), string(after))
	t.Logf("%d lines, fixes need %d lines: %d added, %d removed", strings.Count(string(before), "\n"), fixLines, added, removed)
	if float64(added) > 1.1*float64(fixLines) || removed > rewritten {
		t.Errorf("the diff adds %d and removes %d lines for fixes of %d lines with %d rewritten lines allowed:\n%s",
			added, removed, fixLines, rewritten, after)
	}
	assertPatched(t, before, after, want)

	if _, _, err := runCheckIn(t, "", fix...); err != nil && !errors.Is(err, cli.ErrFindings) {
		t.Fatal(err)
	}
	if again, _ := os.ReadFile(path); string(again) != string(after) {
		t.Errorf("a second --fix changed the file:\n%s", again)
	}
	return true
}

// linesOf is the number of lines a patch operation needs in block YAML: its
// key and value as a YAML encoder writes them.
func linesOf(t *testing.T, op policies.PatchOp) int {
	t.Helper()
	key := op.Path[strings.LastIndex(op.Path, "/")+1:]
	data, err := yaml.Marshal(map[string]any{key: op.Value})
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(data), "\n")
}

// lineDiff counts the lines added and removed between two texts (longest
// common subsequence of lines).
func lineDiff(a, b string) (added, removed int) {
	x, y := strings.Split(a, "\n"), strings.Split(b, "\n")
	lcs := make([][]int, len(x)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(y)+1)
	}
	for i := len(x) - 1; i >= 0; i-- {
		for j := len(y) - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	common := lcs[0][0]
	return len(y) - common, len(x) - common
}

// assertPatched checks that the fixed text reads back as the objects as read
// with their patches applied by an RFC 6902 implementation, and nothing else.
func assertPatched(t *testing.T, before, after []byte, patches map[string][]policies.PatchOp) {
	t.Helper()
	objects := func(data []byte) map[string]any {
		f, err := manifest.Parse("x", data)
		if err != nil {
			t.Fatal(err)
		}
		objs, errs := f.Objects()
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		m := map[string]any{}
		for _, o := range objs {
			var v any
			if err := json.Unmarshal(o.JSON, &v); err != nil {
				t.Fatal(err)
			}
			m[strings.TrimPrefix(o.Where(), "x")] = v
		}
		return m
	}
	want, got := objects(before), objects(after)
	for source, ops := range patches {
		key := source[strings.Index(source, "#"):]
		data, _ := json.Marshal(ops)
		patch, err := jsonpatch.DecodePatch(data)
		if err != nil {
			t.Fatal(err)
		}
		original, _ := json.Marshal(want[key])
		patched, err := patch.Apply(original)
		if err != nil {
			t.Fatalf("%s: %v", source, err)
		}
		var v any
		json.Unmarshal(patched, &v)
		want[key] = v
	}
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", " ")
		w, _ := json.MarshalIndent(want, "", " ")
		t.Errorf("the fixed manifests do not read back as the patched objects:\ngot  %s\nwant %s", g, w)
	}
}

// The API server decodes field names case-sensitively and ignores a field
// spelled "Strategy"; check must too, or it denies what the cluster accepts.
func TestCheckDecodesFieldNamesAsTheAPIServerDoes(t *testing.T) {
	in := `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  Strategy: {type: Recreate}
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: web:1
        lifecycle: {preStop: {sleep: {seconds: 5}}}
        readinessProbe: {httpGet: {path: /, port: 80}}
`
	out, _, err := runCheckIn(t, in, "-f", "-", "-o", "json")
	if err != nil {
		t.Fatalf("the API server ignores Strategy, so check must pass (exit 0), got %v:\n%s", err, out)
	}
	if strings.Contains(out, string(policies.RuleRecreateStrategy)) {
		t.Errorf("check found recreate-strategy in a field the API server ignores:\n%s", out)
	}
}

// Every finding points at the line of its field; a patch that adds a field
// points at the parent it goes into.
func TestCheckFindingsCarryTheLineOfTheirField(t *testing.T) {
	out, _, err := runCheckIn(t, "", "-f", "testdata/check/mixed.yaml", "-o", "json")
	if !errors.Is(err, cli.ErrFindings) {
		t.Fatal(err)
	}
	var rep report.Check
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile("testdata/check/mixed.yaml")
	lines := strings.Split(string(data), "\n")
	want := map[policies.RuleID]string{
		policies.RuleRecreateStrategy:       "type: Recreate",
		policies.RuleRevisionHistory:        "revisionHistoryLimit: 0",
		policies.RulePreStopHook:            "- name: app",
		policies.RuleTerminationGracePeriod: "terminationGracePeriodSeconds: 10",
	}
	seen := 0
	for _, o := range rep.Objects {
		for _, f := range o.Findings {
			l := f.Location
			if l.File != "testdata/check/mixed.yaml" || l.Line < 1 || l.Line > len(lines) || l.Column < 1 {
				t.Errorf("%s: bad location %+v", f.Rule, l)
				continue
			}
			text := lines[l.Line-1]
			if !strings.Contains(text, want[f.Rule]) || !strings.HasPrefix(strings.TrimLeft(text[l.Column-1:], "- "), strings.TrimLeft(want[f.Rule], "- ")) {
				t.Errorf("%s points at %d:%d %q, want the line with %q", f.Rule, l.Line, l.Column, text, want[f.Rule])
			}
			seen++
		}
	}
	if seen != len(want) {
		t.Errorf("want %d findings, saw %d", len(want), seen)
	}
	text, _, _ := runCheckIn(t, "", "-f", "testdata/check/mixed.yaml")
	if !strings.Contains(text, "testdata/check/mixed.yaml:12:7  DENY   recreate-strategy") {
		t.Errorf("the text output must start each finding with file:line:column, got:\n%s", text)
	}
}

func TestCollectWalksDirectoriesInOrderAndKeepsStdin(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"b.yaml", "a/c.yml", "a/d.json", "notes.txt", ".github/workflows/ci.yml", "a/.hidden.yaml"} {
		path := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(path), 0o755)
		os.WriteFile(path, []byte("{}"), 0o644)
	}
	stdin = strings.NewReader("")
	t.Cleanup(func() { stdin = os.Stdin })
	r := report.New()
	sources, err := (&Options{Paths: []string{"-", dir}}).collect(r)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range sources {
		got = append(got, s.file.Path)
	}
	// Hidden directories are skipped; hidden files are read.
	want := []string{"-", filepath.Join(dir, "a/.hidden.yaml"), filepath.Join(dir, "a/c.yml"), filepath.Join(dir, "a/d.json"), filepath.Join(dir, "b.yaml")}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("got %q, want %q", got, want)
	}
	r = report.New()
	if _, err := (&Options{Paths: []string{filepath.Join(dir, "missing")}}).collect(r); err != nil || len(r.Errors) != 1 {
		t.Errorf("a missing path must be an input error, got %v and %v", err, r.Errors)
	}
}

// Across the rule fixtures, every finding points at a field that is written
// in the manifest (a denial or warning at the field it judges, a patch at
// the field it replaces or the parent it adds to), and at that field's line.
func TestEveryFindingOfTheRuleFixturesPointsAtItsField(t *testing.T) {
	judged := map[policies.Action]int{}
	for _, path := range ruleFixtureManifests(t) {
		data, _ := os.ReadFile(path)
		out, _, err := runCheckIn(t, "", "-f", path, "-o", "json")
		if err != nil && !errors.Is(err, cli.ErrFindings) {
			t.Fatalf("%s: %v", path, err)
		}
		var rep report.Check
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatal(err)
		}
		file, _ := manifest.Parse(path, data)
		objects, _ := file.Objects()
		for i, o := range rep.Objects {
			var object any
			json.Unmarshal(objects[i].JSON, &object)
			for _, f := range o.Findings {
				pointer := f.Location.Field
				if f.Action == policies.ActionPatch && f.Patch[0].Op == "add" && !resolves(object, pointer) {
					pointer = pointer[:strings.LastIndex(pointer, "/")] // added: its parent is written
				}
				if pointer == "" || !resolves(object, pointer) {
					t.Errorf("%s: %s %s points at %q, which the manifest does not hold", path, f.Action, f.Rule, f.Location.Field)
					continue
				}
				if want := objects[i].Locate(pointer); f.Location.Line != want.Line || f.Location.Column != want.Column {
					t.Errorf("%s: %s at %s, want %d:%d", path, f.Rule, f.Location, want.Line, want.Column)
				}
				judged[f.Action]++
			}
		}
	}
	if judged[policies.ActionDeny] == 0 || judged[policies.ActionWarn] == 0 || judged[policies.ActionPatch] == 0 {
		t.Errorf("want denials, warnings and patches among the fixtures, got %v", judged)
	}
}

// resolves reports whether a JSON pointer names a value in a JSON document.
func resolves(doc any, pointer string) bool {
	if pointer == "" {
		return true
	}
	for _, token := range strings.Split(pointer[1:], "/") {
		token = strings.ReplaceAll(strings.ReplaceAll(token, "~1", "/"), "~0", "~")
		switch v := doc.(type) {
		case map[string]any:
			var ok bool
			if doc, ok = v[token]; !ok {
				return false
			}
		case []any:
			i, err := strconv.Atoi(token)
			if err != nil || i < 0 || i >= len(v) {
				return false
			}
			doc = v[i]
		default:
			return false
		}
	}
	return true
}

// A patch that cannot be written into the text (its path goes through a
// YAML alias) is an input error naming the object; the other patches are
// still written, and the file with the alias is left as it was for it.
func TestCheckFixWritesWhatItCanAndNamesWhatItCannot(t *testing.T) {
	dir := t.TempDir()
	aliased := filepath.Join(dir, "aliased.yaml")
	in := `x-container: &app {name: app, image: app:1, readinessProbe: {tcpSocket: {port: 80}}}
apiVersion: apps/v1
kind: Deployment
metadata: {name: aliased}
spec:
  selector: {matchLabels: {app: a}}
  template:
    metadata: {labels: {app: a}}
    spec:
      containers: [*app]
`
	os.WriteFile(aliased, []byte(in), 0o644)
	plain := copyTo(t, dir, "seed.yaml")
	out, errOut, err := runCheckIn(t, "", "-f", dir, "--fix")
	if err == nil || errors.Is(err, cli.ErrFindings) {
		t.Fatalf("want exit 2 for the patch that cannot be written, got %v", err)
	}
	if !strings.Contains(errOut, "aliased.yaml#0: add /spec/template/spec/containers/0/lifecycle") || !strings.Contains(errOut, "alias *app") {
		t.Errorf("the error must name the object, the operation and the alias, got:\n%s", errOut)
	}
	if !strings.Contains(out, "The patches the errors and warnings name were not written") {
		t.Errorf("the report must say which patches were written, got:\n%s", out)
	}
	if data, _ := os.ReadFile(plain); !strings.Contains(string(data), "preStop:") {
		t.Errorf("the other file must still be fixed, got:\n%s", data)
	}
	if data, _ := os.ReadFile(aliased); string(data) != in {
		t.Errorf("the aliased container must be left as it was, got:\n%s", data)
	}
}

// A file that cannot be written (read-only, a full disk) is an input error
// naming it; the other files are still written and the report still shows.
func TestCheckFixReportsAFileItCannotWriteAndWritesTheOthers(t *testing.T) {
	dir := t.TempDir()
	first, second := copyTo(t, dir, "styles-compact.yaml"), copyTo(t, dir, "styles-indented.yaml")
	write := writeManifest
	t.Cleanup(func() { writeManifest = write })
	writeManifest = func(f *manifest.File) error {
		if f.Path == first {
			return errors.New("read-only file system")
		}
		return write(f)
	}
	out, stderr, err := runCheckIn(t, "", "-f", first, "-f", second, "--fix")
	if err == nil || errors.Is(err, cli.ErrFindings) {
		t.Fatalf("a file that cannot be written is an input error (exit 2), got %v", err)
	}
	if !strings.Contains(stderr, first) || !strings.Contains(stderr, "read-only file system") {
		t.Errorf("the error must name the file and the cause, got:\n%s", stderr)
	}
	if !strings.Contains(out, "checked") {
		t.Errorf("the report must still be written, got:\n%s", out)
	}
	if fixed, _ := os.ReadFile(second); !strings.Contains(string(fixed), "preStop") {
		t.Errorf("the other file must still be fixed, got:\n%s", fixed)
	}
}

// --fix replaces a file only once its new text is written in full, through
// a symbolic link to the file it names, keeping the permissions.
func TestCheckFixWritesThroughSymlinksAndKeepsPermissions(t *testing.T) {
	dir := t.TempDir()
	target := copyTo(t, dir, "styles-compact.yaml")
	if err := os.Chmod(target, 0o640); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.yaml")
	if err := os.Symlink("styles-compact.yaml", link); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCheckIn(t, "", "-f", link, "--fix"); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Lstat(link); err != nil || info.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link must stay a link: %v", err)
	}
	info, err := os.Stat(target)
	if err != nil || info.Mode().Perm() != 0o640 {
		t.Fatalf("the target must keep its permissions 0640: %v %v", info.Mode(), err)
	}
	if fixed, _ := os.ReadFile(target); !strings.Contains(string(fixed), "preStop") {
		t.Errorf("the target must be fixed, got:\n%s", fixed)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("no temporary file may stay behind, got %v", entries)
	}
}
