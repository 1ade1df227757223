package policytest

// Rule fixtures: the requests of policies/testdata/rules (its README
// describes the format), read once for the tests that evaluate them:
// policies' TestRuleFixtures pins each fixture's findings, admission's
// TestRuleFixtureAnswers what each webhook answers, in the same golden file.

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// Rule fixture documents and golden files.
const (
	RuleFixtureAPIVersion = "testdata.gracekeeper.io/v1"
	RuleFixtureKind       = "Review"
	// GoldenSuffix ends a fixture's golden file: fail-x.yaml's is
	// fail-x.golden.yaml.
	GoldenSuffix = ".golden.yaml"
)

// RuleFixture is a fixture read: a Review document, or a plain manifest,
// which is a CREATE of it. Operation, Mode, User and ServerVersion are
// filled in ("CREATE", "enforce", FixtureUser, FixtureServerVersion) when the
// document leaves them out; the rest is as written.
type RuleFixture struct {
	APIVersion   string           `json:"apiVersion"`
	Kind         string           `json:"kind"`
	Operation    string           `json:"operation,omitempty"`
	Resource     string           `json:"resource,omitempty"`
	SubResource  string           `json:"subResource,omitempty"`
	User         *RuleFixtureUser `json:"user,omitempty"`
	FieldManager string           `json:"fieldManager,omitempty"`
	// History is policies.Revision's JSON, a list; read it with
	// sigs.k8s.io/json's UnmarshalStrict.
	History       json.RawMessage       `json:"history,omitempty"`
	Options       *metav1.DeleteOptions `json:"options,omitempty"`
	ServerVersion string                `json:"serverVersion,omitempty"`
	Mode          string                `json:"mode,omitempty"`
	Config        json.RawMessage       `json:"config,omitempty"`
	Object        json.RawMessage       `json:"object,omitempty"`
	OldObject     json.RawMessage       `json:"oldObject,omitempty"`
}

// FixtureUser is who sends a fixture's request when it names no one: an
// ordinary user running kubectl.
var FixtureUser = RuleFixtureUser{Username: "alice@example.com", Groups: []string{"system:authenticated"}}

// FixtureServerVersion is the API server's version when a fixture names none.
const FixtureServerVersion = "v1.37.2"

// RuleFixtureUser is the requester a fixture names.
type RuleFixtureUser struct {
	Username string   `json:"username"`
	Groups   []string `json:"groups,omitempty"`
}

// RuleFixtures are the fixture files under rules (policies/testdata/rules):
// the pass*.yaml and fail*.yaml of each rule's directory, golden files left
// out, in lexical order.
func RuleFixtures(rules string) ([]string, error) {
	var paths []string
	for _, pattern := range []string{"pass*.yaml", "fail*.yaml"} {
		matches, err := filepath.Glob(filepath.Join(rules, "*", pattern))
		if err != nil {
			return nil, err
		}
		for _, m := range matches {
			if !strings.HasSuffix(m, GoldenSuffix) {
				paths = append(paths, m)
			}
		}
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("no rule fixtures under %s", rules)
	}
	return paths, nil
}

// LoadRuleFixture reads a fixture, strictly: a field it does not know, a
// mode other than enforce or audit, or an operation whose objects do not
// fit it is an error that names the file.
func LoadRuleFixture(path string) (*RuleFixture, error) {
	f, err := loadRuleFixture(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

func loadRuleFixture(path string) (*RuleFixture, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	doc, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return nil, err
	}
	var typeMeta metav1.TypeMeta
	if err := json.Unmarshal(doc, &typeMeta); err != nil {
		return nil, err
	}
	f := &RuleFixture{Object: doc}
	if typeMeta.APIVersion == RuleFixtureAPIVersion && typeMeta.Kind == RuleFixtureKind {
		f = &RuleFixture{}
		strict, err := sigsjson.UnmarshalStrict(doc, f, sigsjson.DisallowUnknownFields)
		if err != nil {
			return nil, err
		}
		if len(strict) > 0 {
			return nil, errors.Join(strict...)
		}
	}
	if f.Mode == "" {
		f.Mode = "enforce"
	}
	if f.Operation == "" {
		f.Operation = "CREATE"
	}
	if f.User == nil {
		f.User = &RuleFixtureUser{Username: FixtureUser.Username, Groups: FixtureUser.Groups}
	}
	if f.ServerVersion == "" {
		f.ServerVersion = FixtureServerVersion
	}
	obj, old := len(f.Object) > 0, len(f.OldObject) > 0
	switch op := f.Operation; {
	case f.Mode != "enforce" && f.Mode != "audit":
		return nil, fmt.Errorf("mode %q is not enforce or audit", f.Mode)
	case op != "CREATE" && op != "UPDATE" && op != "DELETE":
		return nil, fmt.Errorf("operation %q is not CREATE, UPDATE or DELETE", op)
	case op == "CREATE" && (!obj || old):
		return nil, errors.New("a CREATE has an object and no oldObject")
	case op == "UPDATE" && (!obj || !old):
		return nil, errors.New("an UPDATE has an object and an oldObject")
	case op == "DELETE" && (obj || !old):
		return nil, errors.New("a DELETE has an oldObject and no object")
	case f.SubResource != "" && f.Resource == "":
		return nil, errors.New("a subResource needs the resource's kind")
	}
	return f, nil
}
