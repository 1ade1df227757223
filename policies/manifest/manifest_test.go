package manifest

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gracekeeper/gracekeeper/policies"
)

func read(t *testing.T, text string) *File {
	t.Helper()
	f, err := Read("-", strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func encode(t *testing.T, f *File) string {
	t.Helper()
	var buf bytes.Buffer
	if err := f.Encode(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func TestApplyEditsOnlyWhatThePatchNamesAndKeepsComments(t *testing.T) {
	f := read(t, `# app
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  revisionHistoryLimit: 0 # too low
  template:
    spec:
      containers:
        - name: web # the app
          image: web:1
`)
	objects, errs := f.Objects()
	if len(errs) > 0 || len(objects) != 1 {
		t.Fatalf("objects %v, errors %v", objects, errs)
	}
	err := objects[0].Apply([]policies.PatchOp{
		{Op: "replace", Path: "/spec/revisionHistoryLimit", Value: 3},
		{Op: "add", Path: "/spec/template/spec/containers/0/lifecycle", Value: map[string]any{"preStop": map[string]any{"sleep": map[string]any{"seconds": 5}}}},
		{Op: "add", Path: "/metadata/annotations", Value: map[string]string{"a/b": "0"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := `# app
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, annotations: {a/b: "0"}}
spec:
  revisionHistoryLimit: 3 # too low
  template:
    spec:
      containers:
        - name: web # the app
          image: web:1
          lifecycle:
            preStop:
              sleep:
                seconds: 5
`
	if got := encode(t, f); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestApplyRefusesPathsThatDoNotExist(t *testing.T) {
	f := read(t, "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {}\n")
	objects, _ := f.Objects()
	for _, op := range []policies.PatchOp{
		{Op: "replace", Path: "/spec/terminationGracePeriodSeconds", Value: 30},
		{Op: "add", Path: "/spec/containers/0/lifecycle", Value: 1},
		{Op: "remove", Path: "/spec"},
	} {
		if err := objects[0].Apply([]policies.PatchOp{op}); err == nil {
			t.Errorf("%s %s: want an error", op.Op, op.Path)
		} else if !strings.Contains(err.Error(), "-#0") {
			t.Errorf("the error must name the document: %v", err)
		}
	}
}

func TestListItemsAreObjectsAddressedByPointer(t *testing.T) {
	f := read(t, "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata: {name: a, namespace: n}\n---\n---\napiVersion: v1\nkind: Service\nmetadata: {name: s}\n")
	objects, errs := f.Objects()
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	var got []string
	for _, o := range objects {
		got = append(got, o.Where()+" "+o.Kind+" "+o.Namespace+"/"+o.Name)
	}
	want := []string{"-#0/items/0 Pod n/a", "-#2 Service /s"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestPathsWalksDirectoriesInOrderAndKeepsStdin(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"b.yaml", "a/c.yml", "a/d.json", "notes.txt"} {
		path := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(path), 0o755)
		os.WriteFile(path, []byte("{}"), 0o644)
	}
	got, err := Paths([]string{"-", dir})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"-", filepath.Join(dir, "a/c.yml"), filepath.Join(dir, "a/d.json"), filepath.Join(dir, "b.yaml")}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("got %q, want %q", got, want)
	}
	if _, err := Paths([]string{filepath.Join(dir, "missing")}); err == nil {
		t.Error("a missing path must be an error")
	}
}
