package httpapi

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/zanlabs/zan"
)

// ID is an identifier in JSON: written as a string of digits, because
// JavaScript cannot hold every int64; read from a string or a number.
type ID int64

// MarshalJSON writes the id as a string.
func (id ID) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 22)
	b = append(b, '"')
	b = strconv.AppendInt(b, int64(id), 10)
	return append(b, '"'), nil
}

// UnmarshalJSON reads "123" or 123; anything else, or a non-positive id, is
// an error.
func (id *ID) UnmarshalJSON(b []byte) error {
	s := string(b)
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
	}
	n, err := zan.ParseID(s)
	if err != nil {
		return err
	}
	*id = ID(n)
	return nil
}

// Time is a time in JSON: RFC 3339, UTC, milliseconds.
type Time time.Time

const timeLayout = "2006-01-02T15:04:05.000Z07:00"

// MarshalJSON writes the time.
func (t Time) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 26)
	b = append(b, '"')
	b = time.Time(t).UTC().AppendFormat(b, timeLayout)
	return append(b, '"'), nil
}

// Response bodies of the contract.
type (
	errorBody struct {
		Error errorDetail `json:"error"`
	}
	errorDetail struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	userJSON struct {
		ID        ID     `json:"id"`
		Nickname  string `json:"nickname"`
		Avatar    int    `json:"avatar"`
		CreatedAt *Time  `json:"created_at,omitempty"`
	}
	likeChange struct {
		Liked   bool  `json:"liked"`
		Changed bool  `json:"changed"`
		Count   int64 `json:"count"`
	}
	likeItem struct {
		Type  string `json:"type"`
		ID    ID     `json:"id"`
		Count int64  `json:"count"`
		Liked *bool  `json:"liked,omitempty"`
	}
	likerItem struct {
		UserID  ID   `json:"user_id"`
		LikedAt Time `json:"liked_at"`
		// Nickname is the liker's name, "" for a user no longer there.
		Nickname string `json:"nickname"`
		Avatar   int    `json:"avatar"`
	}
	userLikeItem struct {
		Type    string `json:"type"`
		ID      ID     `json:"id"`
		LikedAt Time   `json:"liked_at"`
		// Name is the blog's title or the shop's name; "" for a target
		// that is gone or of another type.
		Name string `json:"name"`
	}
	commonItem struct {
		UserID   ID     `json:"user_id"`
		Nickname string `json:"nickname"`
		Avatar   int    `json:"avatar"`
	}
	page[T any] struct {
		Items      []T     `json:"items"`
		NextCursor *string `json:"next_cursor"`
	}
	blogJSON struct {
		ID        ID          `json:"id"`
		Title     string      `json:"title"`
		Content   string      `json:"content"`
		ShopID    *ID         `json:"shop_id,omitempty"`
		Author    userJSON    `json:"author"`
		CreatedAt Time        `json:"created_at"`
		LikeCount int64       `json:"like_count"`
		Liked     bool        `json:"liked"`
		TopLikers []userJSON  `json:"top_likers,omitempty"`
		Photos    []photoJSON `json:"photos"`
	}

	photoJSON struct {
		ID       ID     `json:"id"`
		URL      string `json:"url"`
		ThumbURL string `json:"thumb_url"`
		Width    int    `json:"width"`
		Height   int    `json:"height"`
	}
)

func cursorString(c *zan.Cursor) *string {
	if c == nil {
		return nil
	}
	s := c.Encode()
	return &s
}

func publicUser(u zan.User, withCreated bool) userJSON {
	j := userJSON{ID: ID(u.ID), Nickname: u.Nickname, Avatar: u.Avatar}
	if withCreated {
		t := Time(u.CreatedAt)
		j.CreatedAt = &t
	}
	return j
}

// decodeJSON is the one place request bodies are read.
func decodeJSON(b []byte, v any) error {
	if len(b) == 0 {
		return zan.Errorf(zan.EBadRequest, "request body is empty; want JSON")
	}
	if err := checkText(b); err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return jsonError(err)
	}
	return nil
}

func clipMsg(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}
