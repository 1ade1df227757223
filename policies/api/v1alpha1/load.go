package v1alpha1

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"

	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// Load reads, defaults and validates a configuration file. An empty path means
// every default.
func Load(path string) (*Configuration, error) {
	if path == "" {
		return Parse(nil)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	c, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// Parse strictly decodes YAML or JSON: an unknown or duplicate field is an
// error naming its path. No data means every default.
func Parse(data []byte) (*Configuration, error) {
	c := &Configuration{}
	if len(data) > 0 {
		if err := oneDocument(data); err != nil {
			return nil, err
		}
		jsonData, err := yaml.YAMLToJSONStrict(data)
		if err != nil {
			return nil, fmt.Errorf("not valid YAML: %w", err)
		}
		strictErrs, err := sigsjson.UnmarshalStrict(jsonData, c, sigsjson.DisallowUnknownFields, sigsjson.DisallowDuplicateFields)
		if err != nil {
			var action *actionError
			if errors.As(err, &action) {
				if path := failingField(jsonData, ""); path != "" {
					return nil, fmt.Errorf("%s: %w", path, err)
				}
			}
			return nil, fmt.Errorf("decode: %w", err)
		}
		if len(strictErrs) > 0 {
			return nil, utilerrors.NewAggregate(strictErrs)
		}
	}
	SetDefaults(c)
	if errs := Validate(c); len(errs) > 0 {
		return nil, errs.ToAggregate()
	}
	return c, nil
}

// oneDocument refuses a file of several YAML documents: the YAML decoder
// reads the first and silently drops the rest, so a second Configuration
// (or the first one's fix, appended after a ---) would never apply.
// Documents of only comments or blank lines do not count.
func oneDocument(data []byte) error {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	documents := 0
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("not valid YAML: %w", err)
		}
		if hasContent(doc) {
			documents++
		}
	}
	if documents > 1 {
		return fmt.Errorf("the file holds %d YAML documents (separated by ---), and gracekeeper reads one Configuration: merge them into one document", documents)
	}
	return nil
}

// hasContent reports whether a YAML document has more than comments, blank
// lines and its --- separator.
func hasContent(doc []byte) bool {
	for line := range bytes.SplitSeq(doc, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) > 0 && line[0] != '#' && !bytes.Equal(line, []byte("---")) {
			return true
		}
	}
	return false
}

// failingField is the path ("preStop.action") of the field of a JSON
// object that does not decode into a Configuration on its own: prefix is
// the path of the object, data its members. "" when none fails alone.
func failingField(data []byte, prefix string) string {
	var members map[string]json.RawMessage
	if json.Unmarshal(data, &members) != nil {
		return ""
	}
	for _, key := range slices.Sorted(maps.Keys(members)) { // the same answer every run
		value := members[key]
		path := key
		if prefix != "" {
			path = prefix + "." + key
		}
		if decodes(nest(path, value)) {
			continue
		}
		if deeper := failingField(value, path); deeper != "" {
			return deeper
		}
		return path
	}
	return ""
}

// nest wraps value in objects, one per element of a dotted path.
func nest(path string, value json.RawMessage) []byte {
	keys := strings.Split(path, ".")
	out := []byte(value)
	for i := len(keys) - 1; i >= 0; i-- {
		k, _ := json.Marshal(keys[i])
		out = append(append(append([]byte("{"), k...), ':'), append(out, '}')...)
	}
	return out
}

func decodes(data []byte) bool {
	_, err := sigsjson.UnmarshalStrict(data, &Configuration{})
	return err == nil
}
