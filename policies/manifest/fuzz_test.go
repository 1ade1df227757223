package manifest

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/gracekeeper/gracekeeper/policies"
)

// FuzzApply writes a patch into arbitrary text. It must never panic, and a
// patch it refuses must leave the text as it was; one it accepts was already
// checked against an RFC 6902 implementation by Apply itself.
func FuzzApply(f *testing.F) {
	seeds := []struct{ text, op, path, value string }{
		{"apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: a\n", "add", "/spec/containers/0/lifecycle", `{"preStop":{"sleep":{"seconds":5}}}`},
		{"# c\n---\napiVersion: v1\nkind: Pod\nspec: {containers: [{name: a}]}\n", "add", "/spec/containers/-", `{"name":"b"}`},
		{"apiVersion: v1\nkind: Pod\nspec:\n    x: |\n        a\n    y: 'q'\n", "replace", "/spec/y", `"it's"`},
		{"{\"apiVersion\": \"v1\", \"kind\": \"Pod\", \"spec\": {\n  \"a\": [1,\n   2]\n}}", "add", "/spec/a/1", `[3]`},
		{"apiVersion: v1\nkind: Pod\nspec:\n  a: b\n    c\n", "replace", "/spec/a", `{"k":["v"]}`},
		{"apiVersion: v1\nitems:\n- apiVersion: v1\n  kind: Pod\n  spec: {}\n# c\n- apiVersion: v1\n  kind: Pod\nkind: List\n", "add", "/spec/a", `1`},
	}
	for _, s := range seeds {
		f.Add(s.text, s.op, s.path, s.value)
	}
	f.Fuzz(func(t *testing.T, text, op, path, value string) {
		var v any
		if json.Unmarshal([]byte(value), &v) != nil {
			return
		}
		file, err := Parse("f.yaml", []byte(text))
		if err != nil {
			return
		}
		objects, _ := file.Objects()
		if len(objects) == 0 {
			return
		}
		before := string(file.Bytes())
		ops := []policies.PatchOp{{Op: op, Path: path, Value: v}}
		err = objects[0].Apply(ops)
		if err != nil && string(file.Bytes()) != before {
			t.Fatalf("a refused patch changed the text:\n%s", file.Bytes())
		}
		// Apply checks only the piece it edits (a document, a List item):
		// the whole file must read back as patched too.
		if want, werr := patched([]byte(before), objects[0].Document, objects[0].Pointer, ops); err == nil && werr == nil {
			if got, gerr := documentsJSON(file.Bytes()); gerr != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("the file does not read back as patched:\n%s", file.Bytes())
			}
		}
	})
}
