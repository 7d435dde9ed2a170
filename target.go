package zan

import (
	"strconv"
	"strings"
)

// Target is a thing that can be liked: a registered type and a positive id.
type Target struct {
	Type string
	ID   int64
}

func (t Target) String() string { return t.Type + "/" + strconv.FormatInt(t.ID, 10) }

// Default target types registered by a fresh server.
var DefaultTargetTypes = []string{"blog", "comment", "shop"}

// ValidType reports whether s matches [a-z][a-z0-9_]{0,31}.
func ValidType(s string) bool {
	if len(s) == 0 || len(s) > 32 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// ParseID parses a positive 64-bit decimal identifier.
func ParseID(s string) (int64, error) {
	if len(s) == 0 || len(s) > 19 || s[0] == '+' || s[0] == '-' {
		return 0, Errorf(EBadRequest, "invalid id %q: want a positive integer", clip(s))
	}
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, Errorf(EBadRequest, "invalid id %q: want a positive integer", clip(s))
	}
	return id, nil
}

// ParseTarget parses a target from its type and id. Only the syntax is
// checked here; whether the type is registered is the like service's call.
func ParseTarget(typ, id string) (Target, error) {
	if !ValidType(typ) {
		return Target{}, Errorf(EBadRequest, "invalid target type %q", clip(typ))
	}
	n, err := ParseID(id)
	if err != nil {
		return Target{}, err
	}
	return Target{Type: typ, ID: n}, nil
}

// ParseTargetPair parses "type:id", as the batch and common-likers calls
// write targets.
func ParseTargetPair(s string) (Target, error) {
	typ, id, ok := strings.Cut(s, ":")
	if !ok {
		return Target{}, Errorf(EBadRequest, "invalid target %q: want type:id", clip(s))
	}
	return ParseTarget(typ, id)
}

// ParseTargetList parses a comma-separated list of "type:id", at most max.
func ParseTargetList(s string, max int) ([]Target, error) {
	if s == "" {
		return nil, Errorf(EBadRequest, "no targets given")
	}
	if n := strings.Count(s, ",") + 1; n > max {
		return nil, Errorf(EBadRequest, "%d targets given, at most %d allowed", n, max)
	}
	parts := strings.Split(s, ",")
	ts := make([]Target, len(parts))
	for i, p := range parts {
		t, err := ParseTargetPair(p)
		if err != nil {
			return nil, err
		}
		ts[i] = t
	}
	return ts, nil
}

// clip keeps error messages short when input is hostile.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
