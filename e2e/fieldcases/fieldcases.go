// Package fieldcases loads the policy engine's field-case fixtures
// (policies/testdata/rules/*/*field*.yaml): inputs rebuilt from public bug
// reports, which `gracekeeper check`, `gracekeeper audit` and the webhook must
// judge alike. Their tests run each case through one path and compare with
// the findings the fixture's golden file pins.
package fieldcases

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/gracekeeper/gracekeeper/policies"
)

// Namespace is the namespace every case's object is put in.
const Namespace = "shop"

// Case is one field-case fixture.
type Case struct {
	// Name is the fixture's path under policies/testdata/rules.
	Name string
	// Object is the object as JSON, in Namespace, with a name.
	Object []byte
	GVK    schema.GroupVersionKind
	// Config is the fixture's configuration file (YAML) with its API server
	// version as serverVersion, so every path picks the same preStop action.
	Config string
	// Findings are the findings its golden file pins for an ordinary user.
	Findings []policies.Finding
}

// Load reads every field case under rules, the policies/testdata/rules
// directory. Fixtures sent by another user (a controller) are left out: their
// goldens pin what that user gets, and the paths compared here send an
// ordinary user's request. So are UPDATEs and DELETEs: check and audit judge
// objects, not changes, so only the webhook sees them (its own tests do).
func Load(rules string) ([]Case, error) {
	paths, err := filepath.Glob(filepath.Join(rules, "*", "*field*.yaml"))
	if err != nil {
		return nil, err
	}
	var cases []Case
	for _, path := range paths {
		if strings.HasSuffix(path, ".golden.yaml") {
			continue
		}
		c, ok, err := load(path)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if ok {
			c.Name, _ = filepath.Rel(rules, path)
			cases = append(cases, c)
		}
	}
	if len(cases) == 0 {
		return nil, fmt.Errorf("no field-case fixtures under %s", rules)
	}
	return cases, nil
}

func load(path string) (Case, bool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Case{}, false, err
	}
	var review struct {
		Kind          string          `json:"kind"`
		Operation     string          `json:"operation"`
		ServerVersion string          `json:"serverVersion"`
		User          json.RawMessage `json:"user"`
		Config        map[string]any  `json:"config"`
		Object        map[string]any  `json:"object"`
	}
	if err := yaml.Unmarshal(data, &review); err != nil {
		return Case{}, false, err
	}
	object, config, version := review.Object, review.Config, "v1.37.2"
	switch {
	case review.Kind != "Review":
		if err := yaml.Unmarshal(data, &object); err != nil {
			return Case{}, false, err
		}
	case len(review.User) > 0, review.Operation != "" && review.Operation != "CREATE":
		return Case{}, false, nil
	case review.ServerVersion != "":
		version = review.ServerVersion
	}
	if config == nil {
		config = map[string]any{}
	}
	config["serverVersion"] = version
	meta, _ := object["metadata"].(map[string]any)
	if meta == nil {
		return Case{}, false, fmt.Errorf("the object has no metadata")
	}
	meta["namespace"] = Namespace
	if meta["name"] == nil {
		meta["name"] = strings.TrimSuffix(filepath.Base(path), ".yaml")
	}
	c := Case{}
	if c.Object, err = json.Marshal(object); err != nil {
		return Case{}, false, err
	}
	var typeMeta metav1.TypeMeta
	if err := json.Unmarshal(c.Object, &typeMeta); err != nil {
		return Case{}, false, err
	}
	c.GVK = typeMeta.GroupVersionKind()
	configYAML, err := yaml.Marshal(config)
	if err != nil {
		return Case{}, false, err
	}
	c.Config = string(configYAML)

	golden, err := os.ReadFile(strings.TrimSuffix(path, ".yaml") + ".golden.yaml")
	if err != nil {
		return Case{}, false, err
	}
	var pinned struct {
		Findings []policies.Finding `json:"findings"`
	}
	if err := yaml.Unmarshal(golden, &pinned); err != nil {
		return Case{}, false, fmt.Errorf("golden: %w", err)
	}
	c.Findings = pinned.Findings
	return c, true, nil
}

// Keys are findings as comparable, sorted strings: rule, action, message and
// patch (as normalized JSON), which is what a user can tell apart.
func Keys(findings []policies.Finding) []string {
	keys := make([]string, 0, len(findings))
	for _, f := range findings {
		patch, _ := json.Marshal(f.Patch)
		var normal any
		_ = json.Unmarshal(patch, &normal)
		if s, ok := normal.([]any); ok && len(s) == 0 {
			normal = nil
		}
		patch, _ = json.Marshal(normal)
		keys = append(keys, fmt.Sprintf("%s %s %s %s", f.Rule, f.Action, f.Message, patch))
	}
	slices.Sort(keys)
	return keys
}
