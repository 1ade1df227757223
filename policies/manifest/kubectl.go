package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// kubectlReads reads data as `kubectl apply -f` and `kubectl create -f` do
// (k8s.io/cli-runtime's StreamVisitor): k8s.io/apimachinery's
// YAMLOrJSONDecoder over the whole stream, which cuts YAML at "---" lines
// and converts each document on its own with sigs.k8s.io/yaml. So an alias
// whose anchor is in an earlier document, which one YAML stream allows, is
// an error there. It returns kubectl's refusal, naming the line (in the file)
// where it can, and nil when kubectl reads the file.
func kubectlReads(data []byte) error {
	starts := documentLines(data)
	d := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for doc := 0; ; doc++ {
		var ext runtime.RawExtension
		err := d.Decode(&ext)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err == nil {
			continue
		}
		line := 0
		if doc < len(starts) {
			line = starts[doc]
		}
		text := err.Error()
		if m := yamlLine.FindStringSubmatch(text); m != nil && line > 0 {
			n, _ := strconv.Atoi(m[1])
			line += n - 1
		} else if m := unknownAnchor.FindStringSubmatch(text); m != nil && line > 0 {
			line = aliasLine(data, line, m[1])
			text += fmt.Sprintf("; an alias (*%s) names only an anchor (&%s) in its own --- document, as kubectl reads it", m[1], m[1])
		}
		// kubectl counts a document of only comments, which YAML does not.
		where := fmt.Sprintf("document %d as kubectl counts them", doc)
		if line > 0 {
			where = fmt.Sprintf("line %d", line)
		}
		return fmt.Errorf("%s: kubectl cannot read this file: %s", where, text)
	}
}

var (
	// yamlLine is the document-relative line of a YAML syntax error.
	yamlLine = regexp.MustCompile(`yaml: line (\d+):`)
	// unknownAnchor is the error of an alias without an anchor in its document.
	unknownAnchor = regexp.MustCompile(`unknown anchor '([^']*)' referenced`)
)

// documentLines is the 1-based line where each document starts, cut as
// YAMLReader cuts it: at a line that starts with "---" followed by nothing but
// spaces or a comment, when the document before has text; the separator line
// itself belongs to neither.
func documentLines(data []byte) []int {
	var starts []int
	start, empty := 1, true
	for n, line := range strings.SplitAfter(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "---"); ok && (strings.TrimSpace(rest) == "" || strings.HasPrefix(strings.TrimSpace(rest), "#")) {
			if !empty {
				starts = append(starts, start)
			}
			start, empty = n+2, true
			continue
		}
		if line != "" {
			empty = false
		}
	}
	if !empty {
		starts = append(starts, start)
	}
	return starts
}

// aliasLine is the line of the first alias *name at or after line from, or from.
func aliasLine(data []byte, from int, name string) int {
	alias := regexp.MustCompile(`\*` + regexp.QuoteMeta(name) + `\b`)
	for n, line := range strings.Split(string(data), "\n")[from-1:] {
		if alias.MatchString(line) {
			return from + n
		}
	}
	return from
}
