package accounts

import "testing"

// FuzzNormalizePhone: a normalised phone is a stored form (11 digits
// starting with 1, or E.164) and normalises to itself, so a lookup can
// never miss the account it made.
func FuzzNormalizePhone(f *testing.F) {
	for _, s := range []string{"13800138000", "+86 138 0013 8000", "138-0013-8000", "0086 13800138000", "+1 (202) 555-0123", "", "+", "00", "+86"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, ok := NormalizePhone(s)
		if !ok {
			return
		}
		if !mainlandPhone.MatchString(p) && !e164Phone.MatchString(p) {
			t.Fatalf("%q normalised to %q, not a stored form", s, p)
		}
		if again, ok := NormalizePhone(p); !ok || again != p {
			t.Fatalf("%q normalised to %q, which normalises to %q, %v", s, p, again, ok)
		}
	})
}
