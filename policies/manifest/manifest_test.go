package manifest

import (
	"strings"
	"testing"

	"github.com/gracekeeper/gracekeeper/policies"
)

func parse(t *testing.T, text string) *File {
	t.Helper()
	f, err := Parse("app.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func objectsOfText(t *testing.T, f *File) []Object {
	t.Helper()
	objects, errs := f.Objects()
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	return objects
}

var lifecycle = map[string]any{"preStop": map[string]any{"sleep": map[string]any{"seconds": 5}}}

// Each case is a manifest, the operations written into its first object,
// and the exact text expected: only the lines that carry the fix change.
func TestApplyChangesOnlyTheLinesOfTheFix(t *testing.T) {
	tests := []struct {
		name, in string
		ops      []policies.PatchOp
		want     string
	}{{
		name: "indented sequences, a leading comment block and its separator",
		in: `# Copyright the authors
#
# generated, do not edit

---
apiVersion: apps/v1
kind: Deployment
metadata:
    name: web
spec:
    revisionHistoryLimit: 0   # too low
    template:
        spec:
            containers:
                - name: web # the app
                  image: "web:1"
                  args:
                      - --port=8080
                - name: sidecar
                  image: 'proxy:1'
---
apiVersion: v1
kind: Service
metadata: {name: web}
`,
		ops: []policies.PatchOp{
			{Op: "replace", Path: "/spec/revisionHistoryLimit", Value: 3},
			{Op: "add", Path: "/spec/template/spec/containers/0/lifecycle", Value: lifecycle},
			{Op: "add", Path: "/spec/template/spec/containers/1/lifecycle", Value: lifecycle},
			{Op: "add", Path: "/spec/template/spec/terminationGracePeriodSeconds", Value: 30},
		},
		want: `# Copyright the authors
#
# generated, do not edit

---
apiVersion: apps/v1
kind: Deployment
metadata:
    name: web
spec:
    revisionHistoryLimit: 3   # too low
    template:
        spec:
            containers:
                - name: web # the app
                  image: "web:1"
                  args:
                      - --port=8080
                  lifecycle:
                      preStop:
                          sleep:
                              seconds: 5
                - name: sidecar
                  image: 'proxy:1'
                  lifecycle:
                      preStop:
                          sleep:
                              seconds: 5
            terminationGracePeriodSeconds: 30
---
apiVersion: v1
kind: Service
metadata: {name: web}
`,
	}, {
		name: "sequences not indented, a new list follows them",
		in: `apiVersion: v1
kind: Pod
metadata:
  name: p
spec:
  containers:
  - name: app
    image: app:1
    command: [serve]
`,
		ops: []policies.PatchOp{
			{Op: "add", Path: "/spec/tolerations", Value: []map[string]any{{"key": "k", "operator": "Exists"}}},
			{Op: "add", Path: "/spec/containers/0/args", Value: []string{"--a", "0"}},
			{Op: "add", Path: "/spec/containers/0/command/-", Value: "--flag"},
		},
		want: `apiVersion: v1
kind: Pod
metadata:
  name: p
spec:
  containers:
  - name: app
    image: app:1
    command: [serve, --flag]
    args:
    - --a
    - "0"
  tolerations:
  - key: k
    operator: Exists
`,
	}, {
		name: "a file that mixes sequence styles keeps each list's own",
		in: `apiVersion: apps/v1
kind: Deployment
metadata:
  name: mixed
spec:
  template:
    spec:
      containers:
        - name: server
          ports:
          - containerPort: 8080
          env:
          - name: A
            value: "1"
      volumes:
      - name: data
`,
		ops: []policies.PatchOp{
			{Op: "add", Path: "/spec/template/spec/containers/0/env/-", Value: map[string]string{"name": "B", "value": "2"}},
			{Op: "add", Path: "/spec/template/spec/containers/-", Value: map[string]string{"name": "proxy"}},
		},
		want: `apiVersion: apps/v1
kind: Deployment
metadata:
  name: mixed
spec:
  template:
    spec:
      containers:
        - name: server
          ports:
          - containerPort: 8080
          env:
          - name: A
            value: "1"
          - name: B
            value: "2"
        - name: proxy
      volumes:
      - name: data
`,
	}, {
		name: "flow mappings, quotes, a block scalar and a plain scalar over two lines",
		in: `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: web}}
spec:
  strategy: {type: Recreate}
  template:
    metadata:
      annotations:
        note: |
          first
          second
        other: a long plain value
          that goes on
    spec:
      containers:
      - name: web
        image: "web:1"
`,
		ops: []policies.PatchOp{
			{Op: "add", Path: "/metadata/annotations", Value: map[string]string{"a/b": "0"}},
			{Op: "replace", Path: "/spec/strategy/type", Value: "RollingUpdate"},
			{Op: "add", Path: "/spec/strategy/rollingUpdate", Value: map[string]any{"maxUnavailable": 0, "maxSurge": "25%"}},
			{Op: "add", Path: "/spec/template/metadata/annotations/x", Value: "true"},
			{Op: "replace", Path: "/spec/template/spec/containers/0/image", Value: "web:2"},
		},
		want: `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: web}, annotations: {a/b: "0"}}
spec:
  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 25%, maxUnavailable: 0}}
  template:
    metadata:
      annotations:
        note: |
          first
          second
        other: a long plain value
          that goes on
        x: "true"
    spec:
      containers:
      - name: web
        image: "web:2"
`,
	}, {
		name: "a block value replaced by a larger one keeps the comment on its key",
		in: `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  strategy: # how to roll out
    type: Recreate
  replicas: 2
`,
		ops: []policies.PatchOp{
			{Op: "replace", Path: "/spec/strategy", Value: map[string]any{"type": "RollingUpdate", "rollingUpdate": map[string]any{"maxUnavailable": 0}}},
		},
		want: `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  strategy: # how to roll out
    rollingUpdate:
      maxUnavailable: 0
    type: RollingUpdate
  replicas: 2
`,
	}, {
		name: "list items inserted and replaced, empty flow collections filled",
		in: `apiVersion: v1
kind: Pod
metadata:
  name: p
  labels: {}
spec:
  volumes: []
  hostAliases: [{ip: 10.0.0.1}, {ip: 10.0.0.3}]
  nodeSelector: disk # replaced by a mapping
  containers:
  - name: app
  - name: old
    image: old:1
`,
		ops: []policies.PatchOp{
			{Op: "add", Path: "/metadata/labels/app", Value: "p"},
			{Op: "add", Path: "/spec/volumes/0", Value: map[string]any{"name": "data", "emptyDir": map[string]any{}}},
			{Op: "add", Path: "/spec/hostAliases/1", Value: map[string]string{"ip": "10.0.0.2"}},
			{Op: "replace", Path: "/spec/nodeSelector", Value: map[string]string{"disk": "ssd"}},
			{Op: "add", Path: "/spec/containers/0", Value: map[string]string{"name": "init", "image": "init:1"}},
			{Op: "replace", Path: "/spec/containers/2", Value: map[string]string{"name": "new", "image": "new:1"}},
		},
		want: `apiVersion: v1
kind: Pod
metadata:
  name: p
  labels: {app: p}
spec:
  volumes: [{emptyDir: {}, name: data}]
  hostAliases: [{ip: 10.0.0.1}, {ip: 10.0.0.2}, {ip: 10.0.0.3}]
  nodeSelector:
    disk: ssd # replaced by a mapping
  containers:
  - image: init:1
    name: init
  - name: app
  - image: new:1
    name: new
`,
	}, {
		name: "JSON stays JSON",
		in: `{
  "apiVersion": "v1",
  "kind": "Pod",
  "metadata": {"name": "p"},
  "spec": {"containers": [{"name": "app", "image": "app:1"}]}
}
`,
		ops: []policies.PatchOp{
			{Op: "add", Path: "/spec/containers/0/lifecycle", Value: lifecycle},
			{Op: "add", Path: "/spec/terminationGracePeriodSeconds", Value: 30},
		},
		want: `{
  "apiVersion": "v1",
  "kind": "Pod",
  "metadata": {"name": "p"},
  "spec": {"containers": [{"name": "app", "image": "app:1", "lifecycle": {"preStop": {"sleep": {"seconds": 5}}}}], "terminationGracePeriodSeconds": 30}
}
`,
	}, {
		name: "JSON stays JSON where the parent is an empty object or list",
		in: `{
  "apiVersion": "v1",
  "kind": "Pod",
  "metadata": {"name": "p", "labels": {}},
  "spec": {"containers": [{"name": "app", "lifecycle": {}}], "tolerations": []}
}
`,
		ops: []policies.PatchOp{
			{Op: "add", Path: "/spec/containers/0/lifecycle/preStop", Value: lifecycle["preStop"]},
			{Op: "add", Path: "/metadata/labels/app", Value: "web"},
			{Op: "add", Path: "/spec/tolerations/-", Value: map[string]any{"operator": "Exists"}},
		},
		want: `{
  "apiVersion": "v1",
  "kind": "Pod",
  "metadata": {"name": "p", "labels": {"app": "web"}},
  "spec": {"containers": [{"name": "app", "lifecycle": {"preStop": {"sleep": {"seconds": 5}}}}], "tolerations": [{"operator": "Exists"}]}
}
`,
	}, {
		name: "an empty value with a comment on its line keeps the comment there",
		in: `apiVersion: v1
kind: Pod
spec:
  containers:
  - name: app
    lifecycle: # filled in by --fix
    # the end
  - name: b
    lifecycle:   # empty
    image: # todo
`,
		ops: []policies.PatchOp{
			{Op: "add", Path: "/spec/containers/0/lifecycle", Value: lifecycle},
			{Op: "add", Path: "/spec/containers/1/lifecycle", Value: lifecycle},
			{Op: "add", Path: "/spec/containers/1/image", Value: "b:1"},
		},
		want: `apiVersion: v1
kind: Pod
spec:
  containers:
  - name: app
    lifecycle: # filled in by --fix
      preStop:
        sleep:
          seconds: 5
    # the end
  - name: b
    lifecycle:   # empty
      preStop:
        sleep:
          seconds: 5
    image: b:1 # todo
`,
	}, {
		name: "a block scalar that keeps its trailing blank lines",
		in:   "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: app\n    args:\n    - |+\n      kept\n\n  - name: b\n",
		ops:  []policies.PatchOp{{Op: "add", Path: "/spec/containers/0/image", Value: "app:1"}},
		want: "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: app\n    args:\n    - |+\n      kept\n\n    image: app:1\n  - name: b\n",
	}, {
		name: "a comment after the last member of a flow collection on lines of its own stays on its line",
		in:   "apiVersion: v1\nkind: Pod\nspec: {\n  containers: [{\n    name: app,\n    image: \"app:1\", # pinned\n  }],\n  hostname: web # the name\n}\n",
		ops: []policies.PatchOp{
			{Op: "add", Path: "/spec/containers/0/lifecycle", Value: lifecycle},
			{Op: "add", Path: "/spec/terminationGracePeriodSeconds", Value: 30},
		},
		want: "apiVersion: v1\nkind: Pod\nspec: {\n  containers: [{\n    name: app,\n    image: \"app:1\", # pinned\n    lifecycle: {preStop: {sleep: {seconds: 5}}},\n  }],\n  hostname: web, # the name\n  terminationGracePeriodSeconds: 30\n}\n",
	}, {
		name: "CRLF line ends and no final line break",
		in:   "apiVersion: v1\r\nkind: Pod\r\nmetadata:\r\n  name: p\r\nspec:\r\n  containers:\r\n  - name: app",
		ops:  []policies.PatchOp{{Op: "add", Path: "/spec/containers/0/image", Value: "app:1"}},
		want: "apiVersion: v1\r\nkind: Pod\r\nmetadata:\r\n  name: p\r\nspec:\r\n  containers:\r\n  - name: app\r\n    image: app:1",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := parse(t, tt.in)
			o := objectsOfText(t, f)[0]
			if err := o.Apply(tt.ops); err != nil {
				t.Fatal(err)
			}
			if got := string(f.Bytes()); got != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tt.want)
			}
			if !f.Changed() {
				t.Error("Changed must report the fix")
			}
		})
	}
}

func TestApplyRefusesWhatItCannotWriteAndLeavesTheTextAsItWas(t *testing.T) {
	in := "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nbase: &base {a: 1}\nspec:\n  containers: []\n  other: *base\n"
	for _, op := range []policies.PatchOp{
		{Op: "replace", Path: "/spec/terminationGracePeriodSeconds", Value: 30},
		{Op: "add", Path: "/spec/containers/0/lifecycle", Value: 1},
		{Op: "remove", Path: "/spec"},
		{Op: "add", Path: "/spec/other/b", Value: 2},
	} {
		f := parse(t, in)
		o := objectsOfText(t, f)[0]
		err := o.Apply([]policies.PatchOp{{Op: "add", Path: "/metadata/labels", Value: map[string]string{"a": "b"}}, op})
		if err == nil {
			t.Errorf("%s %s: want an error", op.Op, op.Path)
			continue
		}
		if !strings.Contains(err.Error(), "app.yaml#0") {
			t.Errorf("the error must name the document: %v", err)
		}
		if string(f.Bytes()) != in || f.Changed() {
			t.Errorf("%s %s: a failed patch must leave the text as it was, got:\n%s", op.Op, op.Path, f.Bytes())
		}
	}
}

// An edit under an anchor would also change every alias and merge key (<<)
// that repeats it: the error says so instead of blaming the tool.
func TestApplyUnderAnAnchorNamesTheAnchor(t *testing.T) {
	for in, op := range map[string]policies.PatchOp{
		"apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - &base\n    name: a\n  - <<: *base\n    name: b\n": {
			Op: "add", Path: "/spec/containers/0/lifecycle", Value: lifecycle},
		"apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: a\n    lifecycle: &lc\n      postStart: {exec: {command: [echo]}}\n  - name: b\n    lifecycle: *lc\n": {
			Op: "add", Path: "/spec/containers/0/lifecycle/preStop", Value: lifecycle["preStop"]},
	} {
		f := parse(t, in)
		o := objectsOfText(t, f)[0]
		err := o.Apply([]policies.PatchOp{op})
		if err == nil || !strings.Contains(err.Error(), "anchor &") || !strings.Contains(err.Error(), "app.yaml#0") {
			t.Errorf("want an error naming the document and the anchor, got %v", err)
		}
		if string(f.Bytes()) != in {
			t.Errorf("a refused patch must leave the text as it was, got:\n%s", f.Bytes())
		}
	}
}

// A fix into a List item edits only that item's lines; items that cannot
// be read alone (a dash on its own line, an alias to another item) are
// edited in the whole document, with the same result.
func TestApplyIntoListItems(t *testing.T) {
	tests := []struct {
		name, in, want string
		cut            bool // the items are edited on their own
	}{
		{"kubectl get -o yaml: items before kind and metadata",
			"apiVersion: v1\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata: {name: a}\n# between\n- apiVersion: v1\n  kind: Pod\n  metadata:\n    name: b\nkind: List\nmetadata:\n  resourceVersion: \"\"\n",
			"apiVersion: v1\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata: {name: a, labels: {x: \"1\"}}\n# between\n- apiVersion: v1\n  kind: Pod\n  metadata:\n    name: b\n    labels:\n      x: \"1\"\nkind: List\nmetadata:\n  resourceVersion: \"\"\n", true},
		{"indented items, the last one ending the file without a line break",
			"kind: List\napiVersion: v1\nitems:\n  - apiVersion: v1\n    kind: Pod\n    metadata: {name: a}\n  - apiVersion: v1\n    kind: Pod\n    metadata:\n      name: b",
			"kind: List\napiVersion: v1\nitems:\n  - apiVersion: v1\n    kind: Pod\n    metadata: {name: a, labels: {x: \"1\"}}\n  - apiVersion: v1\n    kind: Pod\n    metadata:\n      name: b\n      labels:\n        x: \"1\"", true},
		{"a dash on its own line and an alias to another item",
			"apiVersion: v1\nkind: List\nitems:\n-\n  apiVersion: v1\n  kind: &pod Pod\n  metadata: {name: a}\n- apiVersion: v1\n  kind: *pod\n  metadata:\n    name: b\n",
			"apiVersion: v1\nkind: List\nitems:\n-\n  apiVersion: v1\n  kind: &pod Pod\n  metadata: {name: a, labels: {x: \"1\"}}\n- apiVersion: v1\n  kind: *pod\n  metadata:\n    name: b\n    labels:\n      x: \"1\"\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := parse(t, tt.in)
			if _, cut := f.items[0]; cut != tt.cut {
				t.Errorf("items edited on their own: %v, want %v", cut, tt.cut)
			}
			objects := objectsOfText(t, f)
			if len(objects) != 2 {
				t.Fatalf("want two items, got %d", len(objects))
			}
			for i := range objects {
				err := objects[i].Apply([]policies.PatchOp{{Op: "add", Path: "/metadata/labels", Value: map[string]string{"x": "1"}}})
				if err != nil {
					t.Fatal(err)
				}
			}
			if got := string(f.Bytes()); got != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

func TestLocatePointsAtTheFieldOrItsNearestParent(t *testing.T) {
	f := parse(t, `# header
---
apiVersion: v1
kind: List
items:
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: web, annotations: {gracekeeper.io/exempt: all}}
  spec:
    strategy:
      type: Recreate
    template:
      spec:
        containers:
          - name: web
`)
	o := objectsOfText(t, f)[0]
	tests := []struct {
		pointer      string
		line, column int
	}{
		{"", 6, 3},
		{"/spec/strategy/type", 11, 7},
		{"/spec/strategy/rollingUpdate/maxUnavailable", 10, 5},
		{"/spec/template/spec/containers/0/lifecycle", 15, 13},
		{"/spec/template/spec/containers/1", 14, 9},
		{"/metadata/annotations/gracekeeper.io~1exempt", 8, 39},
	}
	for _, tt := range tests {
		if got := o.Locate(tt.pointer); got.Line != tt.line || got.Column != tt.column {
			t.Errorf("Locate(%q) = %d:%d, want %d:%d", tt.pointer, got.Line, got.Column, tt.line, tt.column)
		}
	}
	// Locations refer to the text as read, also after a fix moved lines.
	if err := o.Apply([]policies.PatchOp{{Op: "add", Path: "/metadata/labels", Value: map[string]string{"a": "b"}},
		{Op: "add", Path: "/spec/replicas", Value: 2}}); err != nil {
		t.Fatal(err)
	}
	if got := o.Locate("/spec/strategy/type"); got.Line != 11 {
		t.Errorf("after a fix, Locate must still give the line as read (11), got %d", got.Line)
	}
}

func TestListItemsAreObjectsAddressedByPointer(t *testing.T) {
	// A kind that ends in "List" without items (a custom resource) is an
	// object, as kubectl reads it, not an empty list.
	f := parse(t, "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata: {name: a, namespace: n}\n---\n---\napiVersion: v1\nkind: Service\nmetadata: {name: s}\n"+
		"---\napiVersion: example.com/v1\nkind: IPAllowList\nmetadata: {name: allow}\nspec: {cidrs: [10.0.0.0/8]}\n")
	var got []string
	for _, o := range objectsOfText(t, f) {
		got = append(got, o.Where()+" "+o.Kind+" "+o.Namespace+"/"+o.Name)
	}
	want := []string{"app.yaml#0/items/0 Pod n/a", "app.yaml#2 Service /s", "app.yaml#3 IPAllowList /allow"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestParseNamesTheDocumentThatIsNotYAML(t *testing.T) {
	_, err := Parse("app.yaml", []byte("a: 1\n---\nb: [\n"))
	if err == nil || !strings.Contains(err.Error(), "document 1: not valid YAML") {
		t.Errorf("want the document index in the error, got %v", err)
	}
	f := parse(t, "1: a\n")
	if _, errs := f.Objects(); len(errs) != 1 || !strings.Contains(errs[0].Error(), "not a string") {
		t.Errorf("a non-string key must be an error that says so, got %v", errs)
	}
}

// A fix edits only its own document's piece of the text; where the text
// cannot be cut at its "---" lines (a directive belongs to the document
// after it), the file is edited as one piece, with the same result.
func TestApplyFindsTheDocumentWhereverTheTextIsCut(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"separators, an empty document and an end marker",
			"# head\n---\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: a}\n...\n--- # b\napiVersion: v1\nkind: Pod\nmetadata: {name: b}\n",
			"# head\n---\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: a}\n...\n--- # b\napiVersion: v1\nkind: Pod\nmetadata: {name: b, labels: {x: \"1\"}}\n"},
		{"a directive before a separator",
			"apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n...\n%YAML 1.1\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: b}\n",
			"apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n...\n%YAML 1.1\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: b, labels: {x: \"1\"}}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := parse(t, tt.in)
			objects := objectsOfText(t, f)
			if len(objects) != 2 || objects[1].Name != "b" {
				t.Fatalf("want pods a and b, got %v", objects)
			}
			if err := objects[1].Apply([]policies.PatchOp{{Op: "add", Path: "/metadata/labels", Value: map[string]string{"x": "1"}}}); err != nil {
				t.Fatal(err)
			}
			if got := string(f.Bytes()); got != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

// kubectl reads each --- document on its own (apimachinery's YAMLReader,
// then sigs.k8s.io/yaml), so an alias to an anchor in an earlier document
// is refused there; check refuses it too, naming the alias's line
// (issue 19, fault kind 7). TestKubectlAgreesOnAliases in e2e runs the real kubectl.
func TestParseRefusesWhatKubectlCannotRead(t *testing.T) {
	const crossDocument = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: base\n  labels: &labels\n    app: web\n" +
		"---\napiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  labels: *labels\n"
	for _, tc := range []struct {
		name, text, want string
	}{
		{name: "an alias whose anchor is in an earlier document", text: crossDocument,
			want: "line 12: kubectl cannot read this file: error converting YAML to JSON: yaml: unknown anchor 'labels' referenced; " +
				"an alias (*labels) names only an anchor (&labels) in its own --- document"},
		{name: "the same after a leading separator and a comment", text: "# app\n---\n" + crossDocument,
			want: "line 14: kubectl cannot read this file"},
		{name: "an alias whose anchor is in its own document", text: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  labels: &l {app: a}\n  annotations: *l\n"},
		{name: "content on a separator line, which YAML allows", text: "--- {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n",
			want: "kubectl cannot read this file: invalid Yaml document separator: {apiVersion"},
		{name: "a JSON object", text: `{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "labels": {"app": "a"}}}`},
		{name: "a syntax error in a later document names its line in the file", text: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\ndata: {a: 1, b: [}\n",
			want: "document 1: not valid YAML"},
		{name: "a separator followed by a comment", text: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n--- # next\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("app.yaml", []byte(tc.text))
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("kubectl reads it, but Parse failed: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("Parse error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}
