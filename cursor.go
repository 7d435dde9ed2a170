package zan

import (
	"encoding/base64"
	"encoding/json"
)

// Cursor is a keyset position in a listing: the sort key of the last item
// returned. Every listing uses the fields it sorts by:
//   - likers of a target: At (liked_at, µs) and ID (user id);
//   - likes of a user: At, Type and ID (target);
//   - blogs, new: ID; blogs, hot: Score and ID.
//
// Clients see it only as an opaque string (Encode/DecodeCursor).
type Cursor struct {
	At    int64  `json:"a,omitempty"`
	ID    int64  `json:"i,omitempty"`
	Type  string `json:"t,omitempty"`
	Score int64  `json:"s,omitempty"`
}

// Encode returns the opaque form of c.
func (c Cursor) Encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeCursor parses a string made by Encode. Anything else is a
// bad_request, never a panic.
func DecodeCursor(s string) (*Cursor, error) {
	if s == "" {
		return nil, nil
	}
	bad := Errorf(EBadRequest, "invalid cursor")
	if len(s) > 256 {
		return nil, bad
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, bad
	}
	var c Cursor
	if err := json.Unmarshal(b, &c); err != nil || c.ID < 0 || (c.Type != "" && !ValidType(c.Type)) {
		return nil, bad
	}
	return &c, nil
}
