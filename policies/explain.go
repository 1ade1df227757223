package policies

import (
	"strings"
	"unicode"
)

// Explanation is the finding's problem and its graceful alternative, on one line.
func (f Finding) Explanation() string {
	s := f.Message
	if f.Hint != "" {
		s += ". " + f.Hint
	}
	return SingleLine(s)
}

// ReviewObject names the reviewed object as messages do: "deployment/web".
func ReviewObject(r *Review) string { return reviewObject(r) }

// SingleLine folds control characters (which make the API server drop a
// warning) into spaces; object names can carry them only through annotations,
// but messages quote user values.
func SingleLine(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}
