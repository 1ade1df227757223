package manifest

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/gracekeeper/gracekeeper/policies"
)

// Apply applies add and replace operations to an object inside a document,
// editing the YAML nodes in place so everything else is kept as written.
func (o *Object) Apply(ops []policies.PatchOp) error {
	root := o.File.Documents[o.Document]
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	for _, op := range ops {
		if err := apply(root, o.Pointer+op.Path, op); err != nil {
			return fmt.Errorf("%s: %s %s: %w", o.Where(), op.Op, op.Path, err)
		}
	}
	return nil
}

func apply(root *yaml.Node, pointer string, op policies.PatchOp) error {
	if op.Op != "add" && op.Op != "replace" {
		return fmt.Errorf("unsupported operation")
	}
	tokens := strings.Split(strings.TrimPrefix(pointer, "/"), "/")
	parent := root
	for _, token := range tokens[:len(tokens)-1] {
		child, err := child(parent, unescape(token))
		if err != nil {
			return err
		}
		parent = child
	}
	value, err := node(op.Value)
	if err != nil {
		return err
	}
	last := unescape(tokens[len(tokens)-1])
	switch parent.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(parent.Content); i += 2 {
			if parent.Content[i].Value == last {
				value.LineComment = parent.Content[i+1].LineComment
				parent.Content[i+1] = value
				return nil
			}
		}
		if op.Op == "replace" {
			return fmt.Errorf("no field %q to replace", last)
		}
		parent.Content = append(parent.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: last}, value)
		return nil
	case yaml.SequenceNode:
		i, err := strconv.Atoi(last)
		if err != nil || i < 0 || i >= len(parent.Content) || op.Op != "replace" {
			return fmt.Errorf("only replacing an existing list item is supported")
		}
		value.LineComment = parent.Content[i].LineComment
		parent.Content[i] = value
		return nil
	}
	return fmt.Errorf("parent of %q is not an object or a list", last)
}

func child(n *yaml.Node, token string) (*yaml.Node, error) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == token {
				return n.Content[i+1], nil
			}
		}
	case yaml.SequenceNode:
		if i, err := strconv.Atoi(token); err == nil && i >= 0 && i < len(n.Content) {
			return n.Content[i], nil
		}
	}
	return nil, fmt.Errorf("path element %q not found", token)
}

// node converts a patch value to plain, block-style YAML. The encoder still
// quotes a string that would otherwise read as another type.
func node(value any) (*yaml.Node, error) {
	data, err := json.Marshal(value)
	if err != nil {
		return nil, err
	}
	doc := &yaml.Node{}
	if err := yaml.Unmarshal(data, doc); err != nil {
		return nil, err
	}
	n := doc.Content[0]
	blockStyle(n)
	return n, nil
}

func blockStyle(n *yaml.Node) {
	n.Style = 0
	for _, c := range n.Content {
		blockStyle(c)
	}
}

func unescape(token string) string {
	return strings.ReplaceAll(strings.ReplaceAll(token, "~1", "/"), "~0", "~")
}
