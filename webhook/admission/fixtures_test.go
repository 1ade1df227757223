package admission

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/gracekeeper/gracekeeper/policies"
	"github.com/gracekeeper/gracekeeper/policies/api/v1alpha1"
	"github.com/gracekeeper/gracekeeper/policies/policytest"
)

// ruleFixtures is policies' testdata/rules: the fixture format is its
// README's.
var ruleFixtures = filepath.Join("..", "..", "policies", "testdata", "rules")

// fixtureResult is a fixture's golden file: the findings, which policies'
// TestRuleFixtures pins, and what each webhook answers in the fixture's mode,
// which TestRuleFixtureAnswers pins.
type fixtureResult struct {
	Findings []policies.Finding `json:"findings"`
	Mutate   fixtureAnswer      `json:"mutate"`
	Validate fixtureAnswer      `json:"validate"`
}

// fixtureAnswer is one webhook's answer; no patch means none is applied.
type fixtureAnswer struct {
	Allowed  bool               `json:"allowed"`
	Message  string             `json:"message,omitempty"`
	Warnings []string           `json:"warnings,omitempty"`
	Patch    []policies.PatchOp `json:"patch,omitempty"`
}

func answerOf(d Decision) fixtureAnswer {
	return fixtureAnswer{Allowed: d.Allowed, Message: d.Message, Warnings: d.Warnings, Patch: d.Patch}
}

// TestRuleFixtureAnswers runs every rule fixture through the engine and
// Decide, as each webhook entry does, and holds what each answers (allowed,
// message, warnings, patch) to the fixture's golden file; every warning must
// be one the API server sends. Run with UPDATE_GOLDEN=1 to rewrite them.
func TestRuleFixtureAnswers(t *testing.T) {
	paths, err := policytest.RuleFixtures(ruleFixtures)
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range paths {
		name, _ := filepath.Rel(ruleFixtures, path)
		t.Run(name, func(t *testing.T) {
			fr, err := policytest.LoadRuleFixture(path)
			if err != nil {
				t.Fatal(err)
			}
			engine, r, err := fixtureReview(fr)
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			findings := engine.Evaluate(r)
			mode := policies.Mode(fr.Mode)
			mutate := Decide(Mutating, mode, r, findings)
			validate := Decide(Validating, mode, r, findings)
			for _, w := range append(mutate.Warnings, validate.Warnings...) {
				assertValidWarning(t, w)
			}
			result := fixtureResult{Findings: findings, Mutate: answerOf(mutate), Validate: answerOf(validate)}
			if result.Findings == nil {
				result.Findings = []policies.Finding{}
			}
			got, err := yaml.Marshal(result)
			if err != nil {
				t.Fatal(err)
			}
			policytest.Golden(t, strings.TrimSuffix(path, ".yaml")+policytest.GoldenSuffix, got)
		})
	}
}

// fixtureReview is the engine and request a fixture describes.
func fixtureReview(fr *policytest.RuleFixture) (*policies.Engine, *policies.Review, error) {
	cfg, err := v1alpha1.Parse(fr.Config)
	if err != nil {
		return nil, nil, fmt.Errorf("config: %w", err)
	}
	engine, err := policies.New(cfg, fr.ServerVersion)
	if err != nil {
		return nil, nil, err
	}
	r := &policies.Review{
		Operation: policies.Operation(fr.Operation), SubResource: fr.SubResource, DeleteOptions: fr.Options,
		FieldManager: fr.FieldManager, User: policies.UserInfo{Username: fr.User.Username, Groups: fr.User.Groups},
	}
	if r.Object, err = decodeFixtureObject(fr.Object); err != nil {
		return nil, nil, fmt.Errorf("object: %w", err)
	}
	if r.OldObject, err = decodeFixtureObject(fr.OldObject); err != nil {
		return nil, nil, fmt.Errorf("oldObject: %w", err)
	}
	subject := r.Object
	if subject == nil {
		subject = r.OldObject
	}
	r.Kind = subject.GetObjectKind().GroupVersionKind().Kind
	if m, err := meta.Accessor(subject); err == nil {
		r.Namespace, r.Name = m.GetNamespace(), m.GetName()
	}
	if fr.Resource != "" {
		r.Kind = fr.Resource
	}
	if fr.History != nil {
		var revisions []policies.Revision
		strict, err := sigsjson.UnmarshalStrict(fr.History, &revisions, sigsjson.DisallowUnknownFields)
		if err == nil {
			err = errors.Join(strict...)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("history: %w", err)
		}
		r.History = &policies.History{Revisions: revisions}
	}
	return engine, r, nil
}

// decodeFixtureObject decodes JSON by the kind it names; nil for none.
func decodeFixtureObject(data []byte) (runtime.Object, error) {
	if len(data) == 0 {
		return nil, nil
	}
	var typeMeta metav1.TypeMeta
	if err := json.Unmarshal(data, &typeMeta); err != nil {
		return nil, fmt.Errorf("read kind: %w", err)
	}
	return policies.Decode(typeMeta.GroupVersionKind(), data)
}
