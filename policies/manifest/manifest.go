// Package manifest parses Kubernetes manifests (YAML or JSON text) into
// objects, finds where a field is written, and writes JSON Patch fixes back
// into the text by splicing: bytes a fix does not need are never touched, so
// indentation, sequence style, document separators, comments, quoting and key
// order stay as written and a `check --fix` diff holds only the fix. It is
// pure: it reads and writes no files (cmd/gracekeeper does).
package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// ErrNotObject marks a document that is no Kubernetes object at all: not a
// mapping, or a mapping with neither apiVersion nor kind (a CI workflow, a
// chart's values.yaml, a package.json). Callers walking a repository skip
// these; a document with only one of the two is an error, not this.
var ErrNotObject = errors.New("not a Kubernetes object")

// File is one source of manifests: its name and text, fixes included.
type File struct {
	// Path names the source in messages and locations: a file path, or "-" for stdin.
	Path string
	// chunks is the text cut before each "---" line, so a fix parses and
	// edits only its own document; chunks[i] holds the documents from
	// first[i] up to first[i+1].
	chunks [][]byte
	first  []int
	// items[c] holds, for a chunk that is one List with block items, the
	// offset in the chunk where each item's lines start, and where the last
	// one ends: a fix edits only its item's lines, so fixing every item of
	// a long List costs no more than fixing as many documents.
	items map[int][]int
	// read holds the documents as read; locations refer to them, so they stay
	// true to the input after fixes are applied.
	read []*yaml.Node
	// style is the file's, for documents that show none of their own.
	style   style
	changed bool
	// warnings are what Objects read leniently, as kubectl does.
	warnings []string
}

// Object is one resource inside a document; a List's items are objects of
// their own, addressed by Pointer (a JSON pointer) within the document.
type Object struct {
	File       *File
	Document   int
	Pointer    string
	APIVersion string
	Kind       string
	Namespace  string
	Name       string
	// JSON is the object as the API server would receive it.
	JSON []byte
}

// Location is a place in a File: 1-based line and column (in characters).
type Location struct {
	Line, Column int
}

// Parse reads every YAML (or JSON) document of a source. An error names the
// document (counted from 0) that is not valid YAML, or, for a file kubectl
// cannot read (see kubectlReads), the line and document kubectl refuses.
func Parse(path string, data []byte) (*File, error) {
	docs, err := parseDocuments(data)
	if err != nil {
		return nil, err
	}
	if err := kubectlReads(data); err != nil {
		return nil, err // what kubectl refuses never reaches the cluster
	}
	f := &File{Path: path, read: docs, style: defaultStyle}
	for i := len(docs) - 1; i >= 0; i-- { // the first document to show a style sets it
		f.style = styleOf(docs[i], f.style)
	}
	f.chunks, f.first = chunk(data, len(docs))
	f.items = map[int][]int{}
	line := 1 // of the chunk's start
	for c, text := range f.chunks {
		if f.first[c+1]-f.first[c] == 1 {
			if r := itemRanges(text, line, docs[f.first[c]]); r != nil {
				f.items[c] = r
			}
		}
		line += bytes.Count(text, []byte("\n"))
	}
	return f, nil
}

// itemRanges cuts the text of a List document (its first line is line) at
// the line of each block item: the offsets where each item starts and where
// the last ends (the line of the next key, or the end). It is nil for any
// other document, and when an item's lines do not read alone as a list of
// just that item (a dash on a line of its own, an alias to another item).
func itemRanges(text []byte, line int, doc *yaml.Node) []int {
	root := documentRoot(doc)
	if root.Kind != yaml.MappingNode || isFlow(root) {
		return nil
	}
	var kind string
	var items *yaml.Node
	end := len(text)
	for i := 0; i+1 < len(root.Content); i += 2 {
		k := root.Content[i]
		if items != nil && end == len(text) { // the key after items
			end = lineStart(text, k.Line-line)
		}
		switch k.Value {
		case "kind":
			kind = root.Content[i+1].Value
		case "items":
			items = root.Content[i+1]
		}
	}
	if !strings.HasSuffix(kind, "List") || items == nil || items.Kind != yaml.SequenceNode || isFlow(items) || len(items.Content) == 0 {
		return nil
	}
	r := make([]int, 0, len(items.Content)+1)
	for _, item := range items.Content {
		r = append(r, lineStart(text, item.Line-line))
	}
	r = append(r, end)
	for i, item := range items.Content {
		if r[i] < 0 || r[i] >= r[i+1] {
			return nil
		}
		alone, err := documentsJSON(text[r[i]:r[i+1]])
		if err != nil || len(alone) != 1 {
			return nil
		}
		want, err := jsonOf(item)
		if err != nil || !reflect.DeepEqual(alone[0], []any{want}) {
			return nil
		}
	}
	return r
}

// lineStart is the offset of the n-th line (from 0) of a text, or -1.
func lineStart(text []byte, n int) int {
	at := 0
	for ; n > 0; n-- {
		i := bytes.IndexByte(text[at:], '\n')
		if i < 0 {
			return -1
		}
		at += i + 1
	}
	return at
}

// item is the index of the List item an object pointer names, when its
// chunk is cut at its items.
func (f *File) item(c int, pointer string) (int, bool) {
	r, ok := f.items[c]
	token, found := strings.CutPrefix(pointer, "/items/")
	if !ok || !found {
		return 0, false
	}
	i, ok := index(token, len(r)-1)
	return i, ok && i < len(r)-1
}

// chunk cuts the text before each line that starts a document ("---"). A
// cut whose pieces do not parse into the same number of documents (a %YAML
// directive before "---", for example) is not made: the file stays one piece.
func chunk(data []byte, documents int) ([][]byte, []int) {
	var chunks [][]byte
	start := 0
	for i := 0; i < len(data); {
		next := len(data)
		if j := bytes.IndexByte(data[i:], '\n'); j >= 0 {
			next = i + j + 1
		}
		line := data[i:next]
		if i > start && bytes.HasPrefix(line, []byte("---")) && (len(line) == 3 || strings.ContainsRune(" \t\r\n", rune(line[3]))) {
			chunks = append(chunks, data[start:i])
			start = i
		}
		i = next
	}
	chunks = append(chunks, data[start:])
	first := make([]int, len(chunks)+1)
	for i, c := range chunks {
		docs, err := parseDocuments(c)
		if err != nil {
			return [][]byte{data}, []int{0, documents}
		}
		first[i+1] = first[i] + len(docs)
	}
	if first[len(chunks)] != documents {
		return [][]byte{data}, []int{0, documents}
	}
	return chunks, first
}

// piece is the chunk holding a document, and the document's index in it.
func (f *File) piece(doc int) (chunk, local int) {
	for chunk = 0; chunk < len(f.chunks)-1 && f.first[chunk+1] <= doc; chunk++ {
	}
	return chunk, doc - f.first[chunk]
}

func parseDocuments(data []byte) ([]*yaml.Node, error) {
	var docs []*yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for i := 0; ; i++ {
		doc := &yaml.Node{}
		if err := dec.Decode(doc); err != nil {
			if errors.Is(err, io.EOF) {
				return docs, nil
			}
			return nil, fmt.Errorf("document %d: not valid YAML: %w", i, err)
		}
		docs = append(docs, doc)
	}
}

// Bytes is the text of the file with every applied fix.
func (f *File) Bytes() []byte { return bytes.Join(f.chunks, nil) }

// Changed reports whether a fix was applied.
func (f *File) Changed() bool { return f.changed }

// Where names the object's place for messages: "app.yaml#2" or "app.yaml#2/items/0".
func (o *Object) Where() string {
	return fmt.Sprintf("%s#%d%s", o.File.Path, o.Document, o.Pointer)
}

// Objects lists the resources of every document. A document that is empty is
// skipped; one without apiVersion or kind is an error naming its index.
func (f *File) Objects() ([]Object, []error) {
	var objects []Object
	var errs []error
	for i, doc := range f.read {
		v, err := plain(doc)
		if dups := duplicateKeys(err); dups != nil {
			// kubectl reads these (sigs.k8s.io/yaml: the last one counts), so
			// refusing them would fail a file that applies.
			if v, err = lenient(doc); err == nil {
				err = jsonCompatible(v)
			}
			for _, d := range dups {
				f.warnings = append(f.warnings, fmt.Sprintf("%s#%d: %s; the last one counts, as kubectl reads it", f.Path, i, d))
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s#%d: %w", f.Path, i, err))
			continue
		}
		if v == nil {
			continue
		}
		m, ok := v.(map[string]any)
		if !ok {
			errs = append(errs, fmt.Errorf("%s#%d: %w: expected a mapping with apiVersion and kind", f.Path, i, ErrNotObject))
			continue
		}
		found, err := objectsOf(f, i, "", m)
		objects = append(objects, found...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return objects, errs
}

// Warnings are what Objects read but kubectl would too: a key written twice
// in a mapping, of which the last counts. Call it after Objects.
func (f *File) Warnings() []string { return f.warnings }

// duplicateKeys are the messages of a decode error that only reports keys
// written twice ("line 12: mapping key "a" already defined at line 6"), or nil.
func duplicateKeys(err error) []string {
	var typeErr *yaml.TypeError
	if !errors.As(err, &typeErr) || len(typeErr.Errors) == 0 {
		return nil
	}
	for _, e := range typeErr.Errors {
		if !strings.Contains(e, "already defined") {
			return nil
		}
	}
	return typeErr.Errors
}

// lenient decodes a node as kubectl reads YAML: of a key written twice in a
// mapping, the last value counts. Merge keys (<<) fill in the keys the
// mapping does not write itself.
func lenient(n *yaml.Node) (any, error) {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return lenient(n.Content[0])
	case yaml.AliasNode:
		return lenient(n.Alias)
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := lenient(c)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case yaml.MappingNode:
		out, merged := map[string]any{}, map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			val, err := lenient(v)
			if err != nil {
				return nil, err
			}
			if k.Tag == "!!merge" {
				sources, ok := val.([]any)
				if !ok {
					sources = []any{val}
				}
				for _, src := range sources {
					if m, ok := src.(map[string]any); ok {
						for mk, mv := range m {
							if _, set := merged[mk]; !set {
								merged[mk] = mv
							}
						}
					}
				}
				continue
			}
			var key any
			if err := k.Decode(&key); err != nil {
				return nil, err
			}
			ks, ok := key.(string)
			if !ok {
				return nil, fmt.Errorf("a mapping has a key that is not a string; quote the key")
			}
			out[ks] = val
		}
		for mk, mv := range merged {
			if _, set := out[mk]; !set {
				out[mk] = mv
			}
		}
		return out, nil
	}
	var v any
	err := n.Decode(&v)
	return v, err
}

// plain decodes a YAML node into JSON-compatible values: mappings with
// string keys, lists, strings, numbers, booleans and null.
func plain(n *yaml.Node) (any, error) {
	var v any
	if err := n.Decode(&v); err != nil {
		return nil, err
	}
	if err := jsonCompatible(v); err != nil {
		return nil, err
	}
	return v, nil
}

func jsonCompatible(v any) error {
	switch v := v.(type) {
	case map[string]any:
		for _, c := range v {
			if err := jsonCompatible(c); err != nil {
				return err
			}
		}
	case []any:
		for _, c := range v {
			if err := jsonCompatible(c); err != nil {
				return err
			}
		}
	case map[any]any:
		return fmt.Errorf("a mapping has a key that is not a string; quote the key")
	}
	return nil
}

func objectsOf(f *File, doc int, pointer string, m map[string]any) ([]Object, error) {
	apiVersion, _ := m["apiVersion"].(string)
	kind, _ := m["kind"].(string)
	if kind == "" && apiVersion == "" && pointer == "" {
		return nil, fmt.Errorf("%s#%d: %w: it has neither apiVersion nor kind", f.Path, doc, ErrNotObject)
	}
	if kind == "" || apiVersion == "" {
		return nil, fmt.Errorf("%s#%d%s: missing apiVersion or kind", f.Path, doc, pointer)
	}
	// A list is a kind ending in "List" that has items, as kubectl decides; a
	// custom resource named like IPAllowList is an object.
	if items, ok := m["items"].([]any); ok && strings.HasSuffix(kind, "List") {
		var objects []Object
		for i, item := range items {
			im, ok := item.(map[string]any)
			if !ok {
				return objects, fmt.Errorf("%s#%d%s/items/%d: not a Kubernetes object", f.Path, doc, pointer, i)
			}
			found, err := objectsOf(f, doc, fmt.Sprintf("%s/items/%d", pointer, i), im)
			objects = append(objects, found...)
			if err != nil {
				return objects, err
			}
		}
		return objects, nil
	}
	data, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("%s#%d%s: %w", f.Path, doc, pointer, err)
	}
	o := Object{File: f, Document: doc, Pointer: pointer, APIVersion: apiVersion, Kind: kind, JSON: data}
	if meta, ok := m["metadata"].(map[string]any); ok {
		o.Namespace, _ = meta["namespace"].(string)
		o.Name, _ = meta["name"].(string)
	}
	return []Object{o}, nil
}

// Locate finds where a field of the object (a JSON pointer such as
// "/spec/strategy/type") is written in the file as read: the line and column
// of its key, or of its list item. For a field that is absent (a patch that
// adds it) it is the nearest parent that is present; for "" the object itself.
func (o *Object) Locate(pointer string) Location {
	n := documentRoot(o.File.read[o.Document])
	at := Location{Line: n.Line, Column: n.Column}
	n, at = descend(n, at, o.Pointer)
	_, at = descend(n, at, pointer)
	return at
}

// descend follows a JSON pointer as far as it exists, remembering the
// position of the last key or item it reached.
func descend(n *yaml.Node, at Location, pointer string) (*yaml.Node, Location) {
	if pointer == "" {
		return n, at
	}
	for _, token := range strings.Split(strings.TrimPrefix(pointer, "/"), "/") {
		key, value := child(n, unescape(token))
		if value == nil {
			return n, at
		}
		at = Location{Line: key.Line, Column: key.Column}
		n = value
	}
	return n, at
}

func documentRoot(doc *yaml.Node) *yaml.Node {
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		return doc.Content[0]
	}
	return doc
}

// child finds a mapping key or a list item; for a list item, key is the item.
func child(n *yaml.Node, token string) (key, value *yaml.Node) {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == token {
				return n.Content[i], n.Content[i+1]
			}
		}
	case yaml.SequenceNode:
		if i, ok := index(token, len(n.Content)); ok && i < len(n.Content) {
			return n.Content[i], n.Content[i]
		}
	}
	return nil, nil
}

// index parses a JSON pointer list index: digits only, at most size.
func index(token string, size int) (int, bool) {
	if token == "" || (len(token) > 1 && token[0] == '0') {
		return 0, false
	}
	i := 0
	for _, r := range token {
		if r < '0' || r > '9' {
			return 0, false
		}
		i = i*10 + int(r-'0')
		if i > size {
			return 0, false
		}
	}
	return i, true
}

func unescape(token string) string {
	return strings.ReplaceAll(strings.ReplaceAll(token, "~1", "/"), "~0", "~")
}
