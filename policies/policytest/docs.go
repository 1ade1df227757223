package policytest

import (
	"os"
	"strings"
	"testing"
)

// DocSection is a Markdown file's section: the text after the line
// "## heading", up to the next "## " heading or the file's end. The tests
// that hold a document to the code (the README's Rules table, its CI
// commands, its configuration example) read it so. It fails t when the file
// cannot be read or has no such section.
func DocSection(t testing.TB, path, heading string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(data), "\n## "+heading+"\n")
	if !ok {
		t.Fatalf("%s has no section %q", path, heading)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	return section
}
