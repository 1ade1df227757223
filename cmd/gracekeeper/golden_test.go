package main

import (
	"os"
	"path/filepath"
	"testing"
)

// golden compares got with testdata/PATH, rewritten with UPDATE_GOLDEN=1.
func golden(t *testing.T, path, got string) {
	t.Helper()
	path = filepath.Join("testdata", path)
	if os.Getenv("UPDATE_GOLDEN") != "" {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run make update-golden)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (run make update-golden if intended):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}
