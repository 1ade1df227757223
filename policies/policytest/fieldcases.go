package policytest

// Field cases: the policy engine's fixtures rebuilt from public bug reports
// (policies/testdata/rules/*/*field*.yaml), which `gracekeeper check`,
// `gracekeeper audit` and the webhook must judge alike. Their tests run each
// case through one path and compare with the findings the fixture's golden
// file pins.

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
)

// FieldCaseNamespace is the namespace every field case's object is put in.
const FieldCaseNamespace = "shop"

// FieldCase is one field-case fixture.
type FieldCase struct {
	// Name is the fixture's path under policies/testdata/rules.
	Name string
	// Object is the object as JSON, in FieldCaseNamespace, with a name.
	Object []byte
	GVK    schema.GroupVersionKind
	// Config is the fixture's configuration file (YAML) with its API server
	// version as serverVersion, so every path picks the same preStop action.
	Config string
	// Findings are the findings its golden file pins for an ordinary user.
	Findings []Finding
}

// Finding is a finding as a golden file pins it: policies.Finding's JSON form,
// read for what FindingKeys compares. (This package cannot import policies,
// whose own tests use it.)
type Finding struct {
	Rule    string          `json:"rule"`
	Action  string          `json:"action"`
	Message string          `json:"message"`
	Patch   json.RawMessage `json:"patch,omitempty"`
}

// FieldCases reads every field case under rules, the policies/testdata/rules
// directory. Fixtures sent by another user (a controller) are left out: their
// goldens pin what that user gets, and the paths compared here send an
// ordinary user's request; so are DELETEs and UPDATEs, which check and audit
// never see (their unit tests and e2e tests cover the webhook).
func FieldCases(rules string) ([]FieldCase, error) {
	paths, err := filepath.Glob(filepath.Join(rules, "*", "*field*.yaml"))
	if err != nil {
		return nil, err
	}
	var cases []FieldCase
	for _, path := range paths {
		if strings.HasSuffix(path, ".golden.yaml") {
			continue
		}
		c, ok, err := loadFieldCase(path)
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

func loadFieldCase(path string) (FieldCase, bool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return FieldCase{}, false, err
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
		return FieldCase{}, false, err
	}
	object, config, version := review.Object, review.Config, FixtureServerVersion
	switch {
	case review.Kind != "Review":
		if err := yaml.Unmarshal(data, &object); err != nil {
			return FieldCase{}, false, err
		}
	case len(review.User) > 0, review.Operation != "" && review.Operation != "CREATE":
		// Another user's, and DELETEs and UPDATEs, which check and audit never see.
		return FieldCase{}, false, nil
	case review.ServerVersion != "":
		version = review.ServerVersion
	}
	if config == nil {
		config = map[string]any{}
	}
	config["serverVersion"] = version
	meta, _ := object["metadata"].(map[string]any)
	if meta == nil {
		return FieldCase{}, false, fmt.Errorf("the object has no metadata")
	}
	meta["namespace"] = FieldCaseNamespace
	if meta["name"] == nil {
		meta["name"] = strings.TrimSuffix(filepath.Base(path), ".yaml")
	}
	c := FieldCase{}
	if c.Object, err = json.Marshal(object); err != nil {
		return FieldCase{}, false, err
	}
	var typeMeta metav1.TypeMeta
	if err := json.Unmarshal(c.Object, &typeMeta); err != nil {
		return FieldCase{}, false, err
	}
	c.GVK = typeMeta.GroupVersionKind()
	configYAML, err := yaml.Marshal(config)
	if err != nil {
		return FieldCase{}, false, err
	}
	c.Config = string(configYAML)

	golden, err := os.ReadFile(strings.TrimSuffix(path, ".yaml") + ".golden.yaml")
	if err != nil {
		return FieldCase{}, false, err
	}
	var pinned struct {
		Findings []Finding `json:"findings"`
	}
	if err := yaml.Unmarshal(golden, &pinned); err != nil {
		return FieldCase{}, false, fmt.Errorf("golden: %w", err)
	}
	c.Findings = pinned.Findings
	return c, true, nil
}

// FindingKeys are findings as comparable, sorted strings "<rule> <action>
// <message> <patch>", the patch as normalized JSON ("null" for none): what a
// user can tell apart in their JSON form. F is policies.Finding or Finding.
// change-cause is left out: it records who changed an object through the API,
// so check and audit, which name no requester, never report it, and the
// webhook does for every workload CREATE.
func FindingKeys[F any](findings []F) []string {
	keys := make([]string, 0, len(findings))
	for _, finding := range findings {
		var f Finding
		data, err := json.Marshal(finding)
		if err == nil {
			err = json.Unmarshal(data, &f)
		}
		if err != nil {
			// A test's own type that is no finding: say so in the key.
			keys = append(keys, fmt.Sprintf("not a finding: %v", err))
			continue
		}
		if f.Rule == changeCause {
			continue
		}
		var normal any
		_ = json.Unmarshal(f.Patch, &normal)
		if s, ok := normal.([]any); ok && len(s) == 0 {
			normal = nil
		}
		patch, _ := json.Marshal(normal)
		keys = append(keys, fmt.Sprintf("%s %s %s %s", f.Rule, f.Action, f.Message, patch))
	}
	slices.Sort(keys)
	return keys
}

// changeCause is policies.RuleChangeCause (fieldcases_test.go pins it).
const changeCause = "change-cause"
