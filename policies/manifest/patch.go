package manifest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"unicode/utf8"

	jsonpatch "github.com/evanphx/json-patch/v5"
	yaml "go.yaml.in/yaml/v3"

	"github.com/gracekeeper/gracekeeper/policies"
)

// Apply writes add and replace operations into the object's text. Each
// operation is one splice at the position of the field (or of its parent),
// indented like its neighbours; nothing else in the file changes. Afterwards
// the file must read back as before with the patch applied (checked with an
// RFC 6902 implementation); if it does not, or an operation cannot be
// written, the file is left as it was and the error names the object and
// the operation.
func (o *Object) Apply(ops []policies.PatchOp) error {
	f := o.File
	c, doc := f.piece(o.Document)
	// The text edited: the chunk, or only the List item's lines, which read
	// alone as a list of that one item.
	start, end, pointer := 0, len(f.chunks[c]), o.Pointer
	item, isItem := f.item(c, o.Pointer)
	if isItem {
		start, end, doc, pointer = f.items[c][item], f.items[c][item+1], 0, "/0"
	}
	before := f.chunks[c][start:end]
	want, err := patched(before, doc, pointer, ops)
	if err != nil {
		return fmt.Errorf("%s: %w", o.Where(), err)
	}
	text := before
	for _, op := range ops {
		if text, err = f.apply(text, doc, pointer+op.Path, op); err != nil {
			return fmt.Errorf("%s: %s %s: %w", o.Where(), op.Op, op.Path, err)
		}
	}
	if got, err := documentsJSON(text); err != nil || !reflect.DeepEqual(got, want) {
		if anchor := anchorOn(before, doc, pointer, ops); anchor != "" {
			return fmt.Errorf("%s: the patch edits what the YAML anchor &%s holds, which an alias or a merge key (<<) "+
				"repeats elsewhere, so it would change that too; expand the alias or apply the patch by hand", o.Where(), anchor)
		}
		return fmt.Errorf("%s: the edited text would not read back as the patched object, so it was left unchanged; "+
			"apply the patch by hand and report this with the manifest", o.Where())
	}
	if !bytes.Equal(before, text) {
		chunk := f.chunks[c]
		f.chunks[c] = slices.Concat(chunk[:start], text, chunk[end:])
		if isItem {
			for i := item + 1; i < len(f.items[c]); i++ {
				f.items[c][i] += len(text) - len(before)
			}
		}
		f.changed = true
	}
	return nil
}

// anchorOn names the first anchor on the path of an operation (the nodes it
// passes and the parent it edits), or "".
func anchorOn(data []byte, doc int, pointer string, ops []policies.PatchOp) string {
	docs, err := parseDocuments(data)
	if err != nil {
		return ""
	}
	for _, op := range ops {
		n := documentRoot(docs[doc])
		tokens := strings.Split(strings.TrimPrefix(pointer+op.Path, "/"), "/")
		for _, token := range tokens[:len(tokens)-1] {
			if _, n = child(n, unescape(token)); n == nil {
				break
			}
			if n.Anchor != "" {
				return n.Anchor
			}
		}
	}
	return ""
}

// patched is every document of a text as JSON values, with the operations
// applied to one object by an RFC 6902 implementation: what the edited text
// must read back as.
func patched(data []byte, doc int, pointer string, ops []policies.PatchOp) ([]any, error) {
	docs, err := documentsJSON(data)
	if err != nil {
		return nil, err
	}
	prefixed := make([]policies.PatchOp, len(ops))
	for i, op := range ops {
		prefixed[i] = op
		prefixed[i].Path = pointer + op.Path
	}
	patchJSON, err := json.Marshal(prefixed)
	if err != nil {
		return nil, err
	}
	patch, err := jsonpatch.DecodePatch(patchJSON)
	if err != nil {
		return nil, err
	}
	original, err := json.Marshal(docs[doc])
	if err != nil {
		return nil, err
	}
	out, err := patch.Apply(original)
	if err != nil {
		return nil, fmt.Errorf("the patch does not apply: %w", err)
	}
	var v any
	if err := json.Unmarshal(out, &v); err != nil {
		return nil, err
	}
	docs[doc] = v
	return docs, nil
}

// documentsJSON reads every document into JSON values (numbers as float64),
// so two texts compare equal when they mean the same objects.
func documentsJSON(data []byte) ([]any, error) {
	docs, err := parseDocuments(data)
	if err != nil {
		return nil, err
	}
	out := make([]any, len(docs))
	for i, doc := range docs {
		if out[i], err = jsonOf(doc); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// jsonOf is a node as JSON values (numbers as float64).
func jsonOf(n *yaml.Node) (any, error) {
	v, err := plain(n)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out any
	err = json.Unmarshal(b, &out)
	return out, err
}

// apply splices one operation into a text and returns the new text. It
// parses the text afresh, so the positions are those of the text as it is.
func (f *File) apply(data []byte, doc int, pointer string, op policies.PatchOp) ([]byte, error) {
	if op.Op != "add" && op.Op != "replace" {
		return nil, fmt.Errorf("only add and replace can be written into a manifest")
	}
	docs, err := parseDocuments(data)
	if err != nil {
		return nil, err
	}
	value, err := valueNode(op.Value)
	if err != nil {
		return nil, err
	}
	t := newText(data, styleOf(docs[doc], f.style))
	tokens := strings.Split(strings.TrimPrefix(pointer, "/"), "/")
	parent := documentRoot(docs[doc])
	t.json = isFlow(parent) && len(parent.Content) > 0 && parent.Content[0].Style&yaml.DoubleQuotedStyle != 0
	flow := isFlow(parent)
	for _, token := range tokens[:len(tokens)-1] {
		_, c := child(parent, unescape(token))
		if c == nil {
			return nil, fmt.Errorf("path element %q not found", unescape(token))
		}
		if c.Kind == yaml.AliasNode {
			return nil, fmt.Errorf("the path goes through the YAML alias *%s; expand it or apply the patch by hand", c.Value)
		}
		parent = c
		flow = flow || isFlow(c)
	}
	last := unescape(tokens[len(tokens)-1])
	var e edit
	switch parent.Kind {
	case yaml.MappingNode:
		e, err = t.setKey(parent, last, value, op.Op == "replace", flow)
	case yaml.SequenceNode:
		e, err = t.setItem(parent, last, value, op.Op == "replace", flow)
	default:
		return nil, fmt.Errorf("the parent of %q is not an object or a list", last)
	}
	if err != nil {
		return nil, err
	}
	return e.apply(data), nil
}

// edit replaces the bytes [start, end) with text.
type edit struct {
	start, end int
	text       string
}

func (e edit) apply(data []byte) []byte {
	out := make([]byte, 0, len(data)+len(e.text))
	out = append(out, data[:e.start]...)
	out = append(out, e.text...)
	return append(out, data[e.end:]...)
}

// style is how a document writes block collections, read from the document
// so that new lines look like their neighbours.
type style struct {
	step int // spaces per nesting level
	// seqIndented: "key:\n  - a" rather than "key:\n- a".
	seqIndented bool
}

// defaultStyle is kubectl's: 2 spaces, sequences not indented.
var defaultStyle = style{step: 2}

// styleOf reads the indentation step and the sequence style of a document:
// the first nested block mapping and the first block list under a key.
// What the document does not show is taken from fallback.
func styleOf(doc *yaml.Node, fallback style) style {
	st, stepFound, seqFound := fallback, false, false
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.MappingNode && !isFlow(n) {
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				if v.Line > k.Line && !isFlow(v) {
					switch {
					case v.Kind == yaml.MappingNode && !stepFound && v.Column > k.Column:
						st.step, stepFound = v.Column-k.Column, true
					case v.Kind == yaml.SequenceNode && !seqFound:
						st.seqIndented, seqFound = v.Column > k.Column, true
					}
				}
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(doc)
	return st
}

func isFlow(n *yaml.Node) bool { return n.Style&yaml.FlowStyle != 0 }

// valueNode turns a patch value into YAML nodes, keeping the key order of
// its JSON encoding.
func valueNode(value any) (*yaml.Node, error) {
	data, err := json.Marshal(value)
	if err != nil {
		return nil, err
	}
	doc := &yaml.Node{}
	if err := yaml.Unmarshal(data, doc); err != nil {
		return nil, err
	}
	return doc.Content[0], nil
}

// text is the file's bytes with a line index; positions are yaml.v3's
// 1-based line and column (in characters).
type text struct {
	data  []byte
	lines []int
	nl    string
	style style
	// json: the document is JSON, so what is added must be JSON too, also
	// inside an empty {} or [] that shows no quoting of its own.
	json bool
}

func newText(data []byte, st style) *text {
	t := &text{data: data, lines: []int{0}, nl: "\n", style: st}
	for i, c := range data {
		if c == '\n' {
			t.lines = append(t.lines, i+1)
		}
	}
	if bytes.Contains(data, []byte("\r\n")) {
		t.nl = "\r\n"
	}
	return t
}

func (t *text) offset(n *yaml.Node) int {
	if n.Line < 1 || n.Line > len(t.lines) {
		return len(t.data)
	}
	i := t.lines[n.Line-1]
	for col := 1; col < n.Column && i < len(t.data); col++ {
		_, size := utf8.DecodeRune(t.data[i:])
		i += size
	}
	return i
}

// lineEnd is the offset of the line break (or the end) of the line holding i.
func (t *text) lineEnd(i int) int {
	j := bytes.IndexByte(t.data[i:], '\n')
	if j < 0 {
		return len(t.data)
	}
	if j > 0 && t.data[i+j-1] == '\r' {
		return i + j - 1
	}
	return i + j
}

// nextLine is the offset where the line after the one holding i starts, and
// whether a line break must be written first (the file does not end in one).
func (t *text) nextLine(i int) (int, bool) {
	j := bytes.IndexByte(t.data[i:], '\n')
	if j < 0 {
		return len(t.data), true
	}
	return i + j + 1, false
}

func indentOf(line []byte) int {
	n := 0
	for n < len(line) && line[n] == ' ' {
		n++
	}
	return n
}

// end is the offset just past the text of a node. owner is the indentation
// of the key or list item that holds it (block scalars end where a line is
// indented no deeper).
func (t *text) end(n *yaml.Node, owner int, flow bool) (int, error) {
	start := t.offset(n)
	switch n.Kind {
	case yaml.MappingNode, yaml.SequenceNode:
		if isFlow(n) {
			return t.bracketEnd(start)
		}
		if len(n.Content) == 0 {
			return start, nil
		}
		lastOwner := n.Column - 1
		if n.Kind == yaml.MappingNode {
			lastOwner = n.Content[len(n.Content)-2].Column - 1
		}
		return t.end(n.Content[len(n.Content)-1], lastOwner, false)
	case yaml.AliasNode:
		return t.plainEnd(start, flow), nil
	}
	switch {
	case n.Style&yaml.DoubleQuotedStyle != 0:
		return t.quotedEnd(start, '"')
	case n.Style&yaml.SingleQuotedStyle != 0:
		return t.quotedEnd(start, '\'')
	case n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0:
		return t.blockScalarEnd(start, owner), nil
	case n.Tag == "!!null" && n.Value == "":
		return start, nil
	}
	end := t.plainEnd(start, flow)
	if string(t.data[start:end]) == n.Value {
		return end, nil
	}
	// A plain scalar folded over several lines: its lines join with spaces.
	joined := string(t.data[start:end])
	for strings.HasPrefix(n.Value, joined) && end < len(t.data) {
		next, _ := t.nextLine(end)
		lineEnd := t.lineEnd(next)
		line := strings.TrimSpace(string(t.data[next:lineEnd]))
		joined += " " + line
		end = next + bytes.LastIndex(t.data[next:lineEnd], []byte(line)) + len(line)
		if joined == n.Value {
			return end, nil
		}
	}
	return 0, fmt.Errorf("cannot find the end of the value at line %d, column %d; quote it or apply the patch by hand", n.Line, n.Column)
}

func (t *text) plainEnd(start int, flow bool) int {
	d := t.data
	i := start
	for ; i < len(d); i++ {
		c := d[i]
		if c == '\n' || c == '\r' {
			break
		}
		if c == '#' && i > start && (d[i-1] == ' ' || d[i-1] == '\t') {
			break
		}
		if c == ':' && (i+1 == len(d) || d[i+1] == ' ' || d[i+1] == '\t' || d[i+1] == '\n' || d[i+1] == '\r' ||
			(flow && strings.IndexByte(",[]{}", d[i+1]) >= 0)) {
			break
		}
		if flow && strings.IndexByte(",[]{}", c) >= 0 {
			break
		}
	}
	for i > start && (d[i-1] == ' ' || d[i-1] == '\t') {
		i--
	}
	return i
}

func (t *text) quotedEnd(start int, quote byte) (int, error) {
	d := t.data
	for i := start + 1; i < len(d); i++ {
		switch {
		case quote == '"' && d[i] == '\\':
			i++
		case d[i] == quote && quote == '\'' && i+1 < len(d) && d[i+1] == '\'':
			i++
		case d[i] == quote:
			return i + 1, nil
		}
	}
	return 0, fmt.Errorf("unterminated quoted string")
}

// blockScalarEnd is the end of the last line of a literal or folded scalar:
// its lines are those after the header that are blank or indented deeper
// than owner. With "keep" chomping (|+, >+) its trailing blank lines are
// part of the value, so it ends after them.
func (t *text) blockScalarEnd(start, owner int) int {
	end := t.lineEnd(start)
	header, _, _ := bytes.Cut(t.data[start:end], []byte("#"))
	keep := bytes.Contains(header, []byte("+"))
	next, last := t.nextLine(start)
	for !last {
		lineEnd := t.lineEnd(next)
		line := t.data[next:lineEnd]
		if len(bytes.TrimSpace(line)) > 0 {
			if indentOf(line) <= owner {
				break
			}
			end = lineEnd
		} else if keep {
			end = lineEnd
		}
		next, last = t.nextLine(next)
	}
	return end
}

// bracketEnd is the offset past the bracket that closes the flow collection
// opening at start, skipping quoted strings and comments.
func (t *text) bracketEnd(start int) (int, error) {
	d := t.data
	depth := 0
	prev := byte('[') // the last character that is not a space
	for i := start; i < len(d); i++ {
		c := d[i]
		switch {
		case c == '[' || c == '{':
			depth++
		case c == ']' || c == '}':
			depth--
			if depth == 0 {
				return i + 1, nil
			}
		case (c == '"' || c == '\'') && strings.IndexByte("[{,:", prev) >= 0:
			end, err := t.quotedEnd(i, c)
			if err != nil {
				return 0, err
			}
			i = end - 1
		case c == '#' && i > 0 && (d[i-1] == ' ' || d[i-1] == '\t' || d[i-1] == '\n'):
			i = t.lineEnd(i) - 1
			continue
		}
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			prev = c
		}
	}
	return 0, fmt.Errorf("unclosed flow collection at offset %d", start)
}

// afterColon is the offset just past the ':' that follows a mapping key.
func (t *text) afterColon(key *yaml.Node, flow bool) (int, error) {
	i, err := t.end(key, 0, flow)
	if err != nil {
		return 0, err
	}
	for i < len(t.data) && (t.data[i] == ' ' || t.data[i] == '\t') {
		i++
	}
	if i >= len(t.data) || t.data[i] != ':' {
		return 0, fmt.Errorf("no ':' after the key at line %d", key.Line)
	}
	return i + 1, nil
}

// setKey adds or replaces a mapping's member.
func (t *text) setKey(m *yaml.Node, key string, value *yaml.Node, mustExist, flow bool) (edit, error) {
	asJSON := t.json || (len(m.Content) > 0 && m.Content[0].Style&yaml.DoubleQuotedStyle != 0 && isFlow(m))
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return t.replace(m.Content[i], m.Content[i+1], m.Content[i].Column-1, value, flow, asJSON)
		}
	}
	if mustExist {
		return edit{}, fmt.Errorf("no field %q to replace", key)
	}
	if flow {
		member := stringText(key, true, asJSON) + ": " + flowText(value, asJSON)
		if len(m.Content) == 0 {
			end, err := t.bracketEnd(t.offset(m))
			return edit{end - 1, end - 1, member}, err
		}
		end, err := t.end(m.Content[len(m.Content)-1], 0, true)
		return t.appendFlow(m, m.Content[len(m.Content)-2], end, member), err
	}
	lastKey := m.Content[len(m.Content)-2]
	end, err := t.end(m.Content[len(m.Content)-1], lastKey.Column-1, false)
	if err != nil {
		return edit{}, err
	}
	at, breakFirst := t.nextLine(end)
	lines := t.member(key, value, m.Column-1)
	text := strings.Join(lines, t.nl) + t.nl
	if breakFirst {
		text = t.nl + strings.TrimSuffix(text, t.nl)
	}
	return edit{at, at, text}, nil
}

// replace writes a new value over a member's (owner is the key's indentation).
func (t *text) replace(key, old *yaml.Node, owner int, value *yaml.Node, flow, asJSON bool) (edit, error) {
	start := t.offset(old)
	end, err := t.end(old, owner, flow)
	if err != nil {
		return edit{}, err
	}
	if flow || inline(value) || isFlow(old) {
		text := t.inlineText(value, old, flow || isFlow(old), asJSON)
		if start == end && start > 0 && t.data[start-1] == ':' {
			text = " " + text
		}
		return edit{start, end, text}, nil
	}
	// A block collection goes on the lines below the key; what stands on
	// the key's line after the colon (a comment) stays.
	from, err := t.afterColon(key, false)
	if err != nil {
		return edit{}, err
	}
	if old.Line > key.Line || start == end {
		from = t.lineEnd(from)
	}
	if start == end { // an empty value: the new lines go below the key's line and its comment
		end = from
	}
	lines := t.member("", value, owner)[1:]
	return edit{from, end, t.nl + strings.Join(lines, t.nl)}, nil
}

// setItem inserts or replaces a list item ("-" appends).
func (t *text) setItem(s *yaml.Node, token string, value *yaml.Node, mustExist, flow bool) (edit, error) {
	size := len(s.Content)
	i, ok := index(token, size)
	if token == "-" && !mustExist {
		i, ok = size, true
	}
	if !ok || i > size || (mustExist && i == size) {
		return edit{}, fmt.Errorf("no list item %q", token)
	}
	dash := s.Column - 1
	asJSON := t.json
	if flow && !asJSON {
		asJSON = size > 0 && s.Content[0].Kind == yaml.ScalarNode && s.Content[0].Style&yaml.DoubleQuotedStyle != 0
	}
	if mustExist {
		old := s.Content[i]
		start := t.offset(old)
		end, err := t.end(old, dash, flow)
		if err != nil {
			return edit{}, err
		}
		if flow || inline(value) || isFlow(old) {
			return edit{start, end, t.inlineText(value, old, flow || isFlow(old), asJSON)}, nil
		}
		lines := t.item(value, dash)
		return edit{start, end, strings.Join(lines, t.nl)[dash+2:]}, nil
	}
	if flow {
		item := flowText(value, asJSON)
		switch {
		case size == 0:
			end, err := t.bracketEnd(t.offset(s))
			return edit{end - 1, end - 1, item}, err
		case i == size:
			end, err := t.end(s.Content[size-1], 0, true)
			return t.appendFlow(s, s.Content[size-1], end, item), err
		}
		at := t.offset(s.Content[i])
		return edit{at, at, item + ", "}, nil
	}
	text := strings.Join(t.item(value, dash), t.nl) + t.nl
	if i == size {
		end, err := t.end(s.Content[size-1], dash, false)
		if err != nil {
			return edit{}, err
		}
		at, breakFirst := t.nextLine(end)
		if breakFirst {
			text = t.nl + strings.TrimSuffix(text, t.nl)
		}
		return edit{at, at, text}, nil
	}
	at := t.lines[s.Content[i].Line-1]
	if lead := t.data[at:t.offset(s.Content[i])]; indentOf(lead) != dash || !bytes.HasPrefix(bytes.TrimLeft(lead, " "), []byte("-")) {
		return edit{}, fmt.Errorf("list item %d does not start its line; apply the patch by hand", i)
	}
	return edit{at, at, text}, nil
}

// appendFlow appends a member to a flow collection after its last member,
// whose text ends at end. Where the members stand on lines of their own and
// a comment follows the last one, the new member goes on the next line, so
// the comment stays on the line it was written on.
func (t *text) appendFlow(c, last *yaml.Node, end int, member string) edit {
	sep := t.flowSeparator(c, last)
	if end < 0 || end > len(t.data) || sep == ", " {
		return edit{end, end, sep + member}
	}
	lineEnd := t.lineEnd(end)
	rest := t.data[end:lineEnd]
	trimmed := bytes.TrimLeft(rest, " \t")
	comma := bytes.HasPrefix(trimmed, []byte(","))
	if !bytes.HasPrefix(bytes.TrimLeft(bytes.TrimPrefix(trimmed, []byte(",")), " \t"), []byte("#")) {
		return edit{end, end, sep + member}
	}
	indent := strings.Repeat(" ", last.Column-1)
	if comma { // "last, # c" keeps its trailing comma style: "new,"
		return edit{lineEnd, lineEnd, t.nl + indent + member + ","}
	}
	return edit{end, lineEnd, "," + string(rest) + t.nl + indent + member}
}

// flowSeparator goes before a member appended to a flow collection: ", " on
// one line, or a line break and the last member's indentation when the
// collection puts its members on lines of their own (pretty-printed JSON).
func (t *text) flowSeparator(c, last *yaml.Node) string {
	if last.Line == c.Line || t.offset(last) != t.lines[last.Line-1]+indentOf(t.data[t.lines[last.Line-1]:]) {
		return ", "
	}
	return "," + t.nl + strings.Repeat(" ", last.Column-1)
}

// inline reports whether a value is written on the line of its key.
func inline(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode || len(n.Content) == 0 }

// inlineText writes a value on one line; a string replacing a quoted string
// keeps its quotes.
func (t *text) inlineText(value, old *yaml.Node, flow, asJSON bool) string {
	if value.Kind == yaml.ScalarNode && value.Tag == "!!str" && old.Kind == yaml.ScalarNode && !strings.Contains(value.Value, "\n") {
		switch {
		case old.Style&yaml.DoubleQuotedStyle != 0:
			return quote(value.Value)
		case old.Style&yaml.SingleQuotedStyle != 0:
			return "'" + strings.ReplaceAll(value.Value, "'", "''") + "'"
		}
	}
	return flowText(value, asJSON)
}

// member writes "key: value" as block lines at an indentation.
func (t *text) member(key string, value *yaml.Node, indent int) []string {
	head := strings.Repeat(" ", indent) + stringText(key, false, false) + ":"
	switch {
	case inline(value):
		return []string{head + " " + flowText(value, false)}
	case value.Kind == yaml.MappingNode:
		return append([]string{head}, t.members(value, indent+t.style.step)...)
	}
	if t.style.seqIndented {
		indent += t.style.step
	}
	lines := []string{head}
	for _, item := range value.Content {
		lines = append(lines, t.item(item, indent)...)
	}
	return lines
}

func (t *text) members(m *yaml.Node, indent int) []string {
	var lines []string
	for i := 0; i+1 < len(m.Content); i += 2 {
		lines = append(lines, t.member(m.Content[i].Value, m.Content[i+1], indent)...)
	}
	return lines
}

// item writes "- value" as block lines, the dash at an indentation.
func (t *text) item(value *yaml.Node, dash int) []string {
	prefix := strings.Repeat(" ", dash) + "- "
	if value.Kind != yaml.MappingNode || len(value.Content) == 0 {
		return []string{prefix + flowText(value, false)}
	}
	lines := t.members(value, dash+2)
	lines[0] = prefix + lines[0][dash+2:]
	return lines
}

// flowText writes a value on one line: YAML flow style, or JSON inside JSON.
func flowText(n *yaml.Node, asJSON bool) string {
	switch n.Kind {
	case yaml.MappingNode:
		parts := make([]string, 0, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			parts = append(parts, stringText(n.Content[i].Value, true, asJSON)+": "+flowText(n.Content[i+1], asJSON))
		}
		return "{" + strings.Join(parts, ", ") + "}"
	case yaml.SequenceNode:
		parts := make([]string, 0, len(n.Content))
		for _, c := range n.Content {
			parts = append(parts, flowText(c, asJSON))
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	if n.Tag == "!!str" {
		return stringText(n.Value, true, asJSON)
	}
	return n.Value // a JSON number, true, false or null reads the same in YAML
}

// stringText writes a string plain where YAML reads it back as the same
// string, and double-quoted otherwise ("0", "true", "a: b", "").
func stringText(s string, flow, asJSON bool) string {
	if asJSON || s == "" || strings.ContainsAny(s, "\n\r\t") || (flow && strings.ContainsAny(s, ",[]{}")) {
		return quote(s)
	}
	out, err := yaml.Marshal(s)
	if err != nil || string(out) != s+"\n" {
		return quote(s)
	}
	return s
}

// quote writes a JSON string, which YAML reads as a double-quoted scalar.
func quote(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return strings.TrimSuffix(b.String(), "\n")
}
