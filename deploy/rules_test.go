package deploy

import (
	"os"
	"testing"
)

// TestRulesTemplate fails when the chart's generated rules are stale.
// UPDATE_GOLDEN=1 rewrites them.
func TestRulesTemplate(t *testing.T) {
	checkGenerated(t, RulesTemplatePath, RulesTemplate, "the entry table")
}

// checkGenerated fails when a generated chart template differs from what
// generate writes now, and rewrites it under UPDATE_GOLDEN=1. from names
// what it is generated from, for the message.
func checkGenerated(t *testing.T, path string, generate func() ([]byte, error), from string) {
	t.Helper()
	want, err := generate()
	if err != nil {
		t.Fatal(err)
	}
	if os.Getenv("UPDATE_GOLDEN") != "" {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (UPDATE_GOLDEN=1 go test ./deploy -run %s writes it)", err, t.Name())
	}
	if string(got) != string(want) {
		t.Errorf("%s is stale: %s changed in package admission; run UPDATE_GOLDEN=1 go test ./deploy twice "+
			"(the second run renders the kustomize base from the new template, which the tests embed when they are built)", path, from)
	}
}
