// Package manifest reads Kubernetes manifests from files, directories or
// stdin and writes JSON Patch fixes back into them, keeping comments, key
// order and sequence indentation, so `check --fix` output is fit to commit.
package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// File is one source of manifests: a file, or "-" for stdin.
type File struct {
	Path      string
	Documents []*yaml.Node
	seqIndent yaml.SequenceIndentStyle
}

// Object is one resource inside a document; a List's items are objects of
// their own, addressed by Pointer within the document.
type Object struct {
	File       *File
	Document   int
	Pointer    string
	APIVersion string
	Kind       string
	Namespace  string
	Name       string
	JSON       []byte
}

// Where names the object's place for messages: "app.yaml#2" or "app.yaml#2/items/0".
func (o *Object) Where() string {
	return fmt.Sprintf("%s#%d%s", o.File.Path, o.Document, o.Pointer)
}

// Paths expands files and directories (recursively: *.yaml, *.yml, *.json) in a stable order.
func Paths(args []string) ([]string, error) {
	var paths []string
	for _, arg := range args {
		if arg == "-" {
			paths = append(paths, arg)
			continue
		}
		info, err := os.Stat(arg)
		if err != nil {
			return nil, err
		}
		if !info.IsDir() {
			paths = append(paths, arg)
			continue
		}
		var found []string
		err = filepath.WalkDir(arg, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			switch strings.ToLower(filepath.Ext(p)) {
			case ".yaml", ".yml", ".json":
				if !d.IsDir() {
					found = append(found, p)
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		slices.Sort(found)
		paths = append(paths, found...)
	}
	return paths, nil
}

// Read parses every YAML (or JSON) document of a source.
func Read(path string, stdin io.Reader) (*File, error) {
	var data []byte
	var err error
	if path == "-" {
		data, err = io.ReadAll(stdin)
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, err
	}
	f := &File{Path: path, seqIndent: yaml.SequenceIndentStyle(yaml.DeriveSeqIndentStyle(string(data)))}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for i := 0; ; i++ {
		doc := &yaml.Node{}
		if err := dec.Decode(doc); err != nil {
			if errors.Is(err, io.EOF) {
				return f, nil
			}
			return nil, fmt.Errorf("document %d: not valid YAML: %w", i, err)
		}
		f.Documents = append(f.Documents, doc)
	}
}

// Objects lists the resources of every document. A document that is empty is
// skipped; one without apiVersion or kind is an error naming its index.
func (f *File) Objects() ([]Object, []error) {
	var objects []Object
	var errs []error
	for i, doc := range f.Documents {
		var v any
		if err := doc.Decode(&v); err != nil {
			errs = append(errs, fmt.Errorf("%s#%d: %w", f.Path, i, err))
			continue
		}
		if v == nil {
			continue
		}
		m, ok := v.(map[string]any)
		if !ok {
			errs = append(errs, fmt.Errorf("%s#%d: not a Kubernetes object: expected a mapping with apiVersion and kind", f.Path, i))
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

func objectsOf(f *File, doc int, pointer string, m map[string]any) ([]Object, error) {
	apiVersion, _ := m["apiVersion"].(string)
	kind, _ := m["kind"].(string)
	if kind == "" || apiVersion == "" {
		return nil, fmt.Errorf("%s#%d%s: missing apiVersion or kind", f.Path, doc, pointer)
	}
	if strings.HasSuffix(kind, "List") {
		items, _ := m["items"].([]any)
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

// Encode writes every document back, in the source's sequence indentation.
func (f *File) Encode(w io.Writer) error {
	for i, doc := range f.Documents {
		if i > 0 {
			if _, err := io.WriteString(w, "---\n"); err != nil {
				return err
			}
		}
		enc := yaml.NewEncoderWithOptions(w, &yaml.EncoderOptions{SeqIndent: f.seqIndent})
		if err := enc.Encode(doc); err != nil {
			return err
		}
		if err := enc.Close(); err != nil {
			return err
		}
	}
	return nil
}
