package deploy

import (
	"os"
	"testing"
)

// TestRulesTemplate fails when the chart's generated rules are stale.
// UPDATE_GOLDEN=1 rewrites them.
func TestRulesTemplate(t *testing.T) {
	want, err := RulesTemplate()
	if err != nil {
		t.Fatal(err)
	}
	if os.Getenv("UPDATE_GOLDEN") != "" {
		if err := os.WriteFile(RulesTemplatePath, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(RulesTemplatePath)
	if err != nil {
		t.Fatalf("%v (UPDATE_GOLDEN=1 go test ./deploy -run TestRulesTemplate writes it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s is stale: the entry table changed in package admission; run UPDATE_GOLDEN=1 go test ./deploy twice "+
			"(the second run renders the kustomize base from the new template, which the tests embed when they are built)", RulesTemplatePath)
	}
}
