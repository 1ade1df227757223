package check

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"github.com/gracekeeper/gracekeeper/cmd/gracekeeper/internal/report"
	"github.com/gracekeeper/gracekeeper/policies/manifest"
)

// decodeError puts an object that does not decode in a user's words, with
// the line of the field at fault: `spec.replicas: want an integer, got the
// string "3"`, not Go's `cannot unmarshal string into Go struct field
// DeploymentSpec.spec.replicas of type int32`.
func decodeError(err error, o *manifest.Object) report.Error {
	var typeErr *json.UnmarshalTypeError
	if !errors.As(err, &typeErr) || typeErr.Field == "" {
		return report.Error{Message: strings.TrimPrefix(err.Error(), "json: ")}
	}
	var doc any
	if json.Unmarshal(o.JSON, &doc) != nil {
		return report.Error{Message: strings.TrimPrefix(err.Error(), "json: ")}
	}
	want := wantOf(typeErr.Type)
	pointer, value, found := findField(doc, "", strings.Split(typeErr.Field, "."), want)
	msg := fmt.Sprintf("%s: want %s, got %s", typeErr.Field, want, describe(value, typeErr.Value, found))
	e := report.Error{Message: msg}
	if found {
		e.Line = o.Locate(pointer).Line
		e.Message = fmt.Sprintf("%s: want %s, got %s", fieldPath(pointer), want, describe(value, typeErr.Value, true))
	}
	return e
}

// wantOf names a Go type as the kind of JSON value it takes.
func wantOf(t reflect.Type) string {
	if t == nil {
		return "another type"
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "a boolean (true or false)"
	case reflect.String:
		return "a string"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map, reflect.Struct:
		if t.Name() == "Quantity" || t.Name() == "IntOrString" {
			return "a string or a number"
		}
		return "a mapping"
	case reflect.Pointer:
		return wantOf(t.Elem())
	}
	return "a " + t.String()
}

// findField finds the first value at the dotted path (list items are
// searched, since the path names none) whose JSON kind is not what is
// wanted, and returns its JSON pointer.
func findField(v any, pointer string, path []string, want string) (string, any, bool) {
	if list, ok := v.([]any); ok {
		for i, item := range list {
			if p, val, ok := findField(item, fmt.Sprintf("%s/%d", pointer, i), path, want); ok {
				return p, val, true
			}
		}
		return "", nil, false
	}
	if len(path) == 0 {
		return pointer, v, !fits(v, want)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return "", nil, false
	}
	child, ok := m[path[0]]
	if !ok { // an embedded Go struct (VolumeSource) names a level JSON has not
		return findField(v, pointer, path[1:], want)
	}
	escaped := strings.NewReplacer("~", "~0", "/", "~1").Replace(path[0])
	return findField(child, pointer+"/"+escaped, path[1:], want)
}

// fits says whether a JSON value is of the wanted kind.
func fits(v any, want string) bool {
	switch v := v.(type) {
	case string:
		return want == "a string" || want == "a string or a number"
	case float64:
		return want == "a number" || want == "a string or a number" || (want == "an integer" && v == float64(int64(v)))
	case bool:
		return strings.HasPrefix(want, "a boolean")
	case []any:
		return want == "a list"
	case map[string]any:
		return want == "a mapping"
	}
	return false
}

// describe names a JSON value: `the string "3"`, `the number 1.5`.
func describe(v any, kind string, found bool) string {
	if !found {
		return "a " + kind
	}
	switch v := v.(type) {
	case string:
		return fmt.Sprintf("the string %q", v)
	case float64:
		return fmt.Sprintf("the number %v", v)
	case bool:
		return fmt.Sprintf("the boolean %v", v)
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	case nil:
		return "null"
	}
	return "a " + kind
}

// yamlLine finds the line of a YAML error ("yaml: line 3: ...", "yaml:
// unmarshal errors:\n  line 12: mapping key ... already defined at line 6").
// It starts at a word, so the "yaml: " that ends a file name ("app.yaml: line
// 3: ...") is not taken for the YAML library's.
var yamlLine = regexp.MustCompile(`(?:^|\s)(?:yaml: )?line (\d+): `)

// docPrefix is the "file#2: " a message about a document starts with.
var docPrefix = regexp.MustCompile(`^\S+#\d+: `)

// inputError is an error reading a source, on one line, with its file and
// the line YAML names: kubectl refuses the same documents (duplicate keys,
// text that is not YAML).
func inputError(file string, err error) report.Error {
	msg := strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "yaml: unmarshal errors:", "")), " ")
	e := report.Error{File: file, Message: msg}
	if m := yamlLine.FindStringSubmatchIndex(msg); m != nil {
		e.Line, _ = strconv.Atoi(msg[m[2]:m[3]])
		before := strings.TrimSpace(msg[:m[0]])
		if before == file+":" { // printed as "file:line: ", it would say the file twice
			before = ""
		}
		e.Message = strings.TrimSpace(before + " " + msg[m[1]:])
		// The line places it; "file#0: " would say it twice.
		if where := docPrefix.FindString(e.Message); strings.HasPrefix(where, file+"#") {
			e.Message = strings.TrimPrefix(e.Message, where)
		}
	}
	return e
}

// fieldPath writes a JSON pointer as a field path: /spec/replicas is
// spec.replicas.
func fieldPath(pointer string) string {
	parts := strings.Split(strings.TrimPrefix(pointer, "/"), "/")
	for i, p := range parts {
		parts[i] = strings.NewReplacer("~1", "/", "~0", "~").Replace(p)
	}
	return strings.Join(parts, ".")
}
