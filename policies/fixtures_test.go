package policies

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/gracekeeper/gracekeeper/policies/api/v1alpha1"
	"github.com/gracekeeper/gracekeeper/policies/policytest"
)

// The rule fixtures live in testdata/rules/<rule-id>/. testdata/README.md
// describes their format.
var fixturesDir = filepath.Join("testdata", "rules")

const goldenSuffix = policytest.GoldenSuffix

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
	fr, err := policytest.LoadRuleFixture(path)
	if err != nil {
		return nil, err
	}
	f, err := build(fr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

func build(fr *policytest.RuleFixture) (*fixture, error) {
	cfg, err := v1alpha1.Parse(fr.Config)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	engine, err := New(cfg, fr.ServerVersion)
	if err != nil {
		return nil, err
	}
	f := &fixture{engine: engine, mode: Mode(fr.Mode), object: fr.Object, oldObject: fr.OldObject}
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
	f.review = review(Operation(fr.Operation), obj, old)
	f.review.SubResource = fr.SubResource
	f.review.DeleteOptions = fr.Options
	if fr.Resource != "" {
		f.review.Kind = fr.Resource
	}
	f.review.FieldManager = fr.FieldManager
	if fr.History != nil {
		var revisions []Revision
		strict, err := sigsjson.UnmarshalStrict(fr.History, &revisions, sigsjson.DisallowUnknownFields)
		if err == nil {
			err = errors.Join(strict...)
		}
		if err != nil {
			return nil, fmt.Errorf("history: %w", err)
		}
		f.review.History = &History{Revisions: revisions}
	}
	f.review.User = UserInfo{Username: fr.User.Username, Groups: fr.User.Groups}
	return f, nil
}

// fixtureResult is what a fixture's golden file holds: every finding, which
// TestRuleFixtures pins, and what each webhook answers in the fixture's mode,
// which package admission owns and its TestRuleFixtureAnswers pins (this
// test keeps that part of the file as it is).
type fixtureResult struct {
	Findings []Finding       `json:"findings"`
	Mutate   json.RawMessage `json:"mutate"`
	Validate json.RawMessage `json:"validate"`
}

// TestRuleFixtures evaluates every fixture under testdata/rules: a pass
// fixture gets no finding from its directory's rule, a fail fixture at least
// one, and its findings match its golden file. Run with UPDATE_GOLDEN=1
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
				t.Errorf("a pass fixture got %s findings: %s", id, policytest.NormalJSON(t, mine))
			} else if !pass && len(mine) == 0 {
				t.Errorf("a fail fixture got no %s finding", id)
			}

			assertSettled(t, f.engine.Evaluate, f.review, f.object, findings)
			golden := strings.TrimSuffix(path, ".yaml") + goldenSuffix
			result := fixtureResult{Findings: findings}
			pinned, err := os.ReadFile(golden)
			if err == nil {
				// The answers, as pinned: package admission's test checks them.
				var answers fixtureResult
				if err := yaml.Unmarshal(pinned, &answers); err != nil {
					t.Fatalf("%s: %v", golden, err)
				}
				result.Mutate, result.Validate = answers.Mutate, answers.Validate
			}
			if result.Findings == nil {
				result.Findings = []Finding{}
			}
			got, err := yaml.Marshal(result)
			if err != nil {
				t.Fatal(err)
			}
			if update && bytes.Equal(got, pinned) {
				// The findings are as pinned: leave the file to admission's
				// test, which may be rewriting the answers in parallel.
				return
			}
			policytest.Golden(t, golden, got)
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

// TestWithoutObjectPatches checks the objectPatchesOnly fact over every
// fixture: each finding of such a rule is a patch to the request's own
// object, and the engine without them finds all the rest, in order.
func TestWithoutObjectPatches(t *testing.T) {
	fixtures, _ := listFixtures(t)
	skipped := 0
	for _, path := range fixtures {
		f, err := loadFixture(path)
		if err != nil {
			t.Fatal(err)
		}
		var want []Finding
		for _, finding := range f.engine.Evaluate(f.review) {
			if r := ruleOf(finding.Rule); r != nil && r.objectPatchesOnly {
				skipped++
				if !finding.IsMutation() {
					t.Errorf("%s: rule %s is objectPatchesOnly, but found %s (onPods %v)", path, finding.Rule, finding.Action, finding.OnPods)
				}
				continue
			}
			want = append(want, finding)
		}
		if got := f.engine.WithoutObjectPatches().Evaluate(f.review); !slices.EqualFunc(got, want, func(a, b Finding) bool {
			return policytest.NormalJSON(t, a) == policytest.NormalJSON(t, b)
		}) {
			t.Errorf("%s: without object patches the engine finds\n%s\nwant\n%s", path, policytest.NormalJSON(t, got), policytest.NormalJSON(t, want))
		}
	}
	if skipped == 0 {
		t.Error("no fixture has a finding of an objectPatchesOnly rule")
	}
}
