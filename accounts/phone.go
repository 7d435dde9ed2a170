package accounts

import (
	"regexp"
	"strings"
	"unicode"
)

var (
	mainlandPhone = regexp.MustCompile(`^1[0-9]{10}$`)
	e164Phone     = regexp.MustCompile(`^\+[0-9]{8,15}$`)
)

// NormalizePhone returns the one form a phone number is stored and looked
// up in, or ok false when it is neither a mainland mobile number nor E.164.
//
// Spaces, dashes, dots and parentheses are dropped, as people write them;
// a leading 00 is the international prefix (+). A mainland mobile number
// keeps the 11-digit form whatever prefix it came with (+86, 0086): every
// account made before normalisation was stored so, and must still match.
// Other numbers stay E.164.
func NormalizePhone(phone string) (string, bool) {
	var b strings.Builder
	for _, r := range phone {
		switch {
		case r >= '0' && r <= '9', r == '+':
			b.WriteRune(r)
		case r == '-' || r == '.' || r == '(' || r == ')' || unicode.IsSpace(r):
		default:
			return "", false
		}
	}
	p := b.String()
	if rest, ok := strings.CutPrefix(p, "00"); ok {
		p = "+" + rest
	}
	if rest, ok := strings.CutPrefix(p, "+86"); ok && mainlandPhone.MatchString(rest) {
		return rest, true
	}
	if mainlandPhone.MatchString(p) || e164Phone.MatchString(p) {
		return p, true
	}
	return "", false
}
