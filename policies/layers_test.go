package policies

import (
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The files of the package layer as pod-security-admission's policy/ does:
// the registry (engine.go) uses the rules (rule_*.go), which use what they
// read (evaluation.go, kinds.go, podspec.go, types.go...), and no file uses
// a definition of a file that uses it, directly or through others. A file
// that needs something of a file above it says the layering is wrong: the
// thing belongs lower down.
func TestFilesUseNoFileAboveThem(t *testing.T) {
	uses := fileUses(t, ".")
	for _, from := range slices.Sorted(maps.Keys(uses)) {
		for _, to := range slices.Sorted(maps.Keys(uses[from])) {
			if path := usePath(uses, to, from); path != nil {
				t.Errorf("%s uses %s of %s, which uses %s back (%s)",
					from, strings.Join(uses[from][to], ", "), to, from, strings.Join(path, " -> "))
			}
		}
	}
}

// fileUses maps each non-test file of dir to the files whose package-level
// definitions it names, and the names. A name a file declares for itself
// (a local variable, a parameter) is resolved to it by the parser and not
// counted; fields and methods are not counted.
func fileUses(t *testing.T, dir string) map[string]map[string][]string {
	t.Helper()
	fset := token.NewFileSet()
	files := map[string]*ast.File{}
	definedIn := map[string]string{}
	names, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		base := filepath.Base(name)
		files[base] = f
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if d.Recv == nil && d.Name.Name != "init" {
					definedIn[d.Name.Name] = base
				}
			case *ast.GenDecl:
				for _, s := range d.Specs {
					switch s := s.(type) {
					case *ast.TypeSpec:
						definedIn[s.Name.Name] = base
					case *ast.ValueSpec:
						for _, n := range s.Names {
							definedIn[n.Name] = base
						}
					}
				}
			}
		}
	}
	uses := map[string]map[string][]string{}
	for base, f := range files {
		for _, id := range f.Unresolved {
			to, ok := definedIn[id.Name]
			if !ok || to == base {
				continue
			}
			if uses[base] == nil {
				uses[base] = map[string][]string{}
			}
			if !slices.Contains(uses[base][to], id.Name) {
				uses[base][to] = append(uses[base][to], id.Name)
			}
		}
	}
	return uses
}

// usePath is a path of uses from one file to another, nil when there is none.
func usePath(uses map[string]map[string][]string, from, to string) []string {
	seen := map[string]bool{from: true}
	var walk func(at string, path []string) []string
	walk = func(at string, path []string) []string {
		if at == to {
			return path
		}
		for _, next := range slices.Sorted(maps.Keys(uses[at])) {
			if !seen[next] {
				seen[next] = true
				if p := walk(next, append(path, next)); p != nil {
					return p
				}
			}
		}
		return nil
	}
	return walk(from, []string{from})
}
