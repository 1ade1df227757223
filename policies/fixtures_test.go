package policies

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/gracekeeper/gracekeeper/policies/api/v1alpha1"
	"github.com/gracekeeper/gracekeeper/policies/policytest"
)

// The rule fixtures live in testdata/rules/<rule-id>/. testdata/README.md
// describes their format.
var fixturesDir = filepath.Join("testdata", "rules")

const (
	fixtureAPIVersion = "testdata.gracekeeper.io/v1"
	fixtureKind       = "Review"
	goldenSuffix      = ".golden.yaml"
)

// fixtureReview is a request described in YAML, for what a plain manifest
// (evaluated as a CREATE) cannot say.
type fixtureReview struct {
	APIVersion    string                `json:"apiVersion"`
	Kind          string                `json:"kind"`
	Operation     Operation             `json:"operation,omitempty"`
	Resource      string                `json:"resource,omitempty"`
	SubResource   string                `json:"subResource,omitempty"`
	User          *fixtureUser          `json:"user,omitempty"`
	FieldManager  string                `json:"fieldManager,omitempty"`
	History       []Revision            `json:"history,omitempty"`
	Options       *metav1.DeleteOptions `json:"options,omitempty"`
	ServerVersion string                `json:"serverVersion,omitempty"`
	Mode          Mode                  `json:"mode,omitempty"`
	Config        json.RawMessage       `json:"config,omitempty"`
	Object        json.RawMessage       `json:"object,omitempty"`
	OldObject     json.RawMessage       `json:"oldObject,omitempty"`
}

type fixtureUser struct {
	Username string   `json:"username"`
	Groups   []string `json:"groups,omitempty"`
}

// fixture is a loaded fixture: what to evaluate, with what, in which mode.
type fixture struct {
	engine *Engine
	mode   Mode
	review *Review
	// object and oldObject are the JSON of review.Object and review.OldObject
	// as written: patches apply to the former, and both seed the fuzz targets.
	object, oldObject []byte
}

// loadFixture reads a manifest or a Review document.
func loadFixture(path string) (*fixture, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	doc, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var typeMeta metav1.TypeMeta
	if err := json.Unmarshal(doc, &typeMeta); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	fr := fixtureReview{Object: doc}
	if typeMeta.APIVersion == fixtureAPIVersion && typeMeta.Kind == fixtureKind {
		fr = fixtureReview{}
		strict, err := sigsjson.UnmarshalStrict(doc, &fr, sigsjson.DisallowUnknownFields)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if len(strict) > 0 {
			return nil, fmt.Errorf("%s: %w", path, errors.Join(strict...))
		}
	}
	f, err := fr.build()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

func (fr *fixtureReview) build() (*fixture, error) {
	cfg, err := v1alpha1.Parse(fr.Config)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	serverVersion := fr.ServerVersion
	if serverVersion == "" {
		serverVersion = currentServer
	}
	engine, err := New(cfg, serverVersion)
	if err != nil {
		return nil, err
	}
	f := &fixture{engine: engine, mode: fr.Mode, object: fr.Object, oldObject: fr.OldObject}
	if f.mode == "" {
		f.mode = ModeEnforce
	}
	if f.mode != ModeEnforce && f.mode != ModeAudit {
		return nil, fmt.Errorf("mode %q is not enforce or audit", f.mode)
	}

	op := fr.Operation
	if op == "" {
		op = Create
	}
	var obj, old runtime.Object
	if len(fr.Object) > 0 {
		if obj, err = decodeObject(fr.Object); err != nil {
			return nil, fmt.Errorf("object: %w", err)
		}
	}
	if len(fr.OldObject) > 0 {
		if old, err = decodeObject(fr.OldObject); err != nil {
			return nil, fmt.Errorf("oldObject: %w", err)
		}
	}
	switch {
	case op != Create && op != Update && op != Delete:
		return nil, fmt.Errorf("operation %q is not CREATE, UPDATE or DELETE", op)
	case op == Create && (obj == nil || old != nil):
		return nil, errors.New("a CREATE has an object and no oldObject")
	case op == Update && (obj == nil || old == nil):
		return nil, errors.New("an UPDATE has an object and an oldObject")
	case op == Delete && (obj != nil || old == nil):
		return nil, errors.New("a DELETE has an oldObject and no object")
	case fr.SubResource != "" && fr.Resource == "":
		return nil, errors.New("a subResource needs the resource's kind")
	}

	f.review = review(op, obj, old)
	f.review.SubResource = fr.SubResource
	f.review.DeleteOptions = fr.Options
	if fr.Resource != "" {
		f.review.Kind = fr.Resource
	}
	f.review.FieldManager = fr.FieldManager
	if fr.History != nil {
		f.review.History = &History{Revisions: fr.History}
	}
	if fr.User != nil {
		f.review.User = UserInfo{Username: fr.User.Username, Groups: fr.User.Groups}
	}
	return f, nil
}

// fixtureResult is what a fixture's golden file holds: every finding, and
// what each webhook answers in the fixture's mode.
type fixtureResult struct {
	Findings []Finding     `json:"findings"`
	Mutate   fixtureAnswer `json:"mutate"`
	Validate fixtureAnswer `json:"validate"`
}

// fixtureAnswer is one webhook's answer; no patch means none is applied.
type fixtureAnswer struct {
	Allowed  bool      `json:"allowed"`
	Message  string    `json:"message,omitempty"`
	Warnings []string  `json:"warnings,omitempty"`
	Patch    []PatchOp `json:"patch,omitempty"`
}

func answerOf(d Decision) fixtureAnswer {
	return fixtureAnswer{Allowed: d.Allowed, Message: d.Message, Warnings: d.Warnings, Patch: d.Patch}
}

// TestRuleFixtures evaluates every fixture under testdata/rules: a pass
// fixture gets no finding from its directory's rule, a fail fixture at least
// one, and every result matches its golden file. Run with UPDATE_GOLDEN=1
// (make update-golden) to rewrite the golden files.
func TestRuleFixtures(t *testing.T) {
	update := policytest.UpdatingGolden()
	fixtures, goldens := listFixtures(t)

	for _, id := range ruleIDs() {
		var pass, fail int
		for _, path := range fixtures {
			if filepath.Base(filepath.Dir(path)) != string(id) {
				continue
			}
			if strings.HasPrefix(filepath.Base(path), "pass") {
				pass++
			} else {
				fail++
			}
		}
		if pass == 0 || fail == 0 {
			t.Errorf("rule %s has %d pass and %d fail fixtures in %s; it needs at least one of each",
				id, pass, fail, filepath.Join(fixturesDir, string(id)))
		}
	}
	for _, file := range goldens {
		if !slices.Contains(fixtures, strings.TrimSuffix(file, goldenSuffix)+".yaml") {
			if update {
				if err := os.Remove(file); err != nil {
					t.Error(err)
				}
				continue
			}
			t.Errorf("%s has no fixture (UPDATE_GOLDEN=1 removes it)", file)
		}
	}

	for _, path := range fixtures {
		id := RuleID(filepath.Base(filepath.Dir(path)))
		name := strings.TrimPrefix(path, fixturesDir+string(filepath.Separator))
		t.Run(name, func(t *testing.T) {
			f, err := loadFixture(path)
			if err != nil {
				t.Fatal(err)
			}
			findings := f.engine.Evaluate(f.review)
			mine := only(id, findings)
			if pass := strings.HasPrefix(filepath.Base(path), "pass"); pass && len(mine) > 0 {
				t.Errorf("a pass fixture got %s findings: %s", id, normalJSON(t, mine))
			} else if !pass && len(mine) == 0 {
				t.Errorf("a fail fixture got no %s finding", id)
			}

			mutate := Decide(Mutating, f.mode, f.review, findings)
			validate := Decide(Validating, f.mode, f.review, findings)
			for _, w := range append(mutate.Warnings, validate.Warnings...) {
				assertValidWarning(t, w)
			}
			assertSettled(t, f.engine.Evaluate, f.review, f.object, findings)
			result := fixtureResult{Findings: findings, Mutate: answerOf(mutate), Validate: answerOf(validate)}
			if result.Findings == nil {
				result.Findings = []Finding{}
			}
			got, err := yaml.Marshal(result)
			if err != nil {
				t.Fatal(err)
			}
			policytest.Golden(t, strings.TrimSuffix(path, ".yaml")+goldenSuffix, got)
		})
	}
}

// listFixtures returns the fixture and golden files under testdata/rules, and
// fails on a directory that names no rule or a file that is neither.
func listFixtures(t *testing.T) (fixtures, goldens []string) {
	t.Helper()
	err := filepath.WalkDir(fixturesDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != fixturesDir && !slices.Contains(ruleIDs(), RuleID(d.Name())) {
				t.Errorf("%s does not name a registered rule", path)
				return filepath.SkipDir
			}
			return nil
		}
		name := d.Name()
		switch {
		case strings.HasSuffix(name, goldenSuffix):
			goldens = append(goldens, path)
		case filepath.Dir(path) != fixturesDir && strings.HasSuffix(name, ".yaml") &&
			(strings.HasPrefix(name, "pass") || strings.HasPrefix(name, "fail")):
			fixtures = append(fixtures, path)
		default:
			t.Errorf("%s is not a fixture: name it pass*.yaml or fail*.yaml inside a rule's directory", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return fixtures, goldens
}
