package v1alpha1

import (
	"fmt"
	"os"

	utilerrors "k8s.io/apimachinery/pkg/util/errors"
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
		jsonData, err := yaml.YAMLToJSONStrict(data)
		if err != nil {
			return nil, fmt.Errorf("not valid YAML: %w", err)
		}
		strictErrs, err := sigsjson.UnmarshalStrict(jsonData, c, sigsjson.DisallowUnknownFields, sigsjson.DisallowDuplicateFields)
		if err != nil {
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
