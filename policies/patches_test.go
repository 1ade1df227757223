package policies

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPatchProperties checks the three properties every patch must have,
// against raw JSON that carries fields k8s.io/api does not know (any key
// starting with "future"), the way a newer API server would send them:
//  1. idempotence: the patched object needs no further patch;
//  2. unknown fields survive byte-for-byte;
//  3. containers that already have a preStop hook are untouched.
//
// The patches for a workload's pods are applied to its template, as
// `check --fix` does; they are the same operations each pod gets.
func TestPatchProperties(t *testing.T) {
	tests := []struct {
		file          string
		config        string
		serverVersion string
	}{
		{"pod.json", "", currentServer},
		{"pod.json", "", oldServer},
		{"deployment.json", "", currentServer},
		{"deployment.json", "", oldServer},
		{"deployment-recreate.json", "recreate: convert", currentServer},
		{"statefulset.json", "", currentServer},
		{"daemonset.json", "", oldServer},
		{"replicaset.json", "", currentServer},
	}
	for _, tc := range tests {
		name := tc.file + " at " + tc.serverVersion
		if tc.config != "" {
			name += " with " + tc.config
		}
		t.Run(name, func(t *testing.T) {
			engine := newEngine(t, tc.config, tc.serverVersion)
			original, err := os.ReadFile(filepath.Join("testdata", "patches", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			obj, err := decodeObject(original)
			if err != nil {
				t.Fatal(err)
			}
			findings := engine.Evaluate(create(obj))
			if len(patchOps(findings)) == 0 {
				t.Fatalf("the fixture needs no patch, so it tests nothing")
			}
			out, _ := applyFindings(t, original, findings)

			t.Run("evaluating the patched object yields no further patch", func(t *testing.T) {
				assertSettled(t, engine.Evaluate, create(obj), original, findings)
			})

			t.Run("unknown fields survive byte-for-byte", func(t *testing.T) {
				unknown := subtrees(t, original, func(path string, _ json.RawMessage) bool {
					return strings.HasPrefix(path[strings.LastIndex(path, "/")+1:], "future")
				})
				if len(unknown) == 0 {
					t.Fatal("the fixture has no unknown field")
				}
				assertSubtreesKept(t, unknown, out)
			})

			t.Run("containers that already have a preStop hook are untouched", func(t *testing.T) {
				hooked := subtrees(t, original, func(path string, raw json.RawMessage) bool {
					if !strings.Contains(path, "/containers/") || strings.Count(path[strings.Index(path, "/containers/"):], "/") != 2 {
						return false
					}
					var c struct {
						Lifecycle struct {
							PreStop json.RawMessage `json:"preStop"`
						} `json:"lifecycle"`
					}
					return json.Unmarshal(raw, &c) == nil && len(c.Lifecycle.PreStop) > 0
				})
				if len(hooked) == 0 {
					t.Fatal("the fixture has no container with a preStop hook")
				}
				assertSubtreesKept(t, hooked, out)
			})
		})
	}
}

// subtrees returns the compacted JSON of every member or element of doc, by
// JSON pointer, for which keep is true.
func subtrees(t testing.TB, doc []byte, keep func(path string, raw json.RawMessage) bool) map[string]string {
	t.Helper()
	found := map[string]string{}
	var walk func(path string, raw json.RawMessage)
	walk = func(path string, raw json.RawMessage) {
		if path != "" && keep(path, raw) {
			found[path] = compact(t, raw)
		}
		var object map[string]json.RawMessage
		if json.Unmarshal(raw, &object) == nil {
			for key, value := range object {
				walk(path+"/"+key, value)
			}
			return
		}
		var array []json.RawMessage
		if json.Unmarshal(raw, &array) == nil {
			for i, value := range array {
				walk(path+"/"+itoa(int32(i)), value)
			}
		}
	}
	walk("", doc)
	return found
}

func assertSubtreesKept(t testing.TB, want map[string]string, doc []byte) {
	t.Helper()
	got := subtrees(t, doc, func(path string, _ json.RawMessage) bool { _, ok := want[path]; return ok })
	for path, before := range want {
		if after, ok := got[path]; !ok {
			t.Errorf("%s is gone from %s", path, doc)
		} else if after != before {
			t.Errorf("%s changed\nbefore: %s\nafter:  %s", path, before, after)
		}
	}
}

func compact(t testing.TB, raw []byte) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		t.Fatalf("compact %s: %v", raw, err)
	}
	return b.String()
}
