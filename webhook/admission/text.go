package admission

import (
	"fmt"
	"unicode/utf8"
)

// MaxTextBytes bounds the text of a caller's that an answer or a log line
// quotes: a 6 MiB review must not make a 6 MiB answer or log line. It is
// large enough for a stack.
const MaxTextBytes = 4096

// BoundText cuts s to MaxTextBytes on a rune boundary and says how much
// was left out. Answers use it for any text of the caller's they quote
// (quoted whole, it can take several times its size: a DEL byte quotes as
// 4), and the webhook's log for every field.
func BoundText(s string) string {
	if len(s) <= MaxTextBytes {
		return s
	}
	cut := MaxTextBytes
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s…[%d more bytes]", s[:cut], len(s)-cut)
}
