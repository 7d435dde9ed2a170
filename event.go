package zan

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"sync/atomic"
	"time"
)

// Op is what a like event does.
type Op uint8

const (
	OpLike   Op = 1
	OpUnlike Op = 2
)

func (o Op) String() string {
	switch o {
	case OpLike:
		return "like"
	case OpUnlike:
		return "unlike"
	}
	return "op(" + strconv.Itoa(int(o)) + ")"
}

// Event is one change of a like, as published to the event log after the hot
// state took it. The store applies, per (user, target), the event with the
// greatest At, so duplicates and out-of-order delivery end in the right state.
type Event struct {
	// ID is unique per change; the event log uses it to drop a retried
	// publish (JetStream's Nats-Msg-Id).
	ID     string
	Op     Op
	Target Target
	User   int64
	// At is the time of the change in the hot state, in Unix microseconds.
	// The hot state keeps it strictly increasing per target.
	At int64
	// Kept marks an event that records an answer rather than a change: the
	// user's membership already was as asked ("changed":false). The hot
	// state may be older than it knows (a Redis restored from a snapshot),
	// so even such an answer leaves its fact in the log, and the store,
	// which applies the last event per (user, target) by At, ends where
	// the client was told. A kept like keeps the time of the like it
	// confirms; readers that react to changes (notifications) skip it.
	Kept bool
}

// Liked reports whether the event leaves the user liking the target.
func (e Event) Liked() bool { return e.Op == OpLike }

// Time returns At as a time.
func (e Event) Time() time.Time { return time.UnixMicro(e.At).UTC() }

// AppendJSON appends the event's wire form:
// {"id":"..","op":"like","type":"blog","target":"42","user":"7","at":1763856000000000}
// and ,"kept":true before the brace for a kept event. Ids are strings, as
// everywhere in zan's JSON; at is Unix microseconds.
func (e Event) AppendJSON(b []byte) []byte {
	b = append(b, `{"id":`...)
	b = strconv.AppendQuote(b, e.ID)
	b = append(b, `,"op":"`...)
	b = append(b, e.Op.String()...)
	b = append(b, `","type":"`...)
	b = append(b, e.Target.Type...) // ValidType: no escaping needed
	b = append(b, `","target":"`...)
	b = strconv.AppendInt(b, e.Target.ID, 10)
	b = append(b, `","user":"`...)
	b = strconv.AppendInt(b, e.User, 10)
	b = append(b, `","at":`...)
	b = strconv.AppendInt(b, e.At, 10)
	if e.Kept {
		b = append(b, `,"kept":true`...)
	}
	return append(b, '}')
}

// MarshalJSON implements json.Marshaler.
func (e Event) MarshalJSON() ([]byte, error) { return e.AppendJSON(nil), nil }

type wireEvent struct {
	ID     string `json:"id"`
	Op     string `json:"op"`
	Type   string `json:"type"`
	Target string `json:"target"`
	User   string `json:"user"`
	At     int64  `json:"at"`
	Kept   bool   `json:"kept"`
}

// UnmarshalJSON implements json.Unmarshaler; it rejects anything that is not
// a complete, valid event, so a malformed message never reaches the store.
func (e *Event) UnmarshalJSON(b []byte) error {
	w, ok := canonicalEvent(b)
	if !ok {
		if err := json.Unmarshal(b, &w); err != nil {
			return Errorf(EBadRequest, "malformed event: %v", err)
		}
	}
	var ev Event
	switch w.Op {
	case "like":
		ev.Op = OpLike
	case "unlike":
		ev.Op = OpUnlike
	default:
		return Errorf(EBadRequest, "malformed event: op %q", clip(w.Op))
	}
	if w.ID == "" || len(w.ID) > 128 {
		return Errorf(EBadRequest, "malformed event: id")
	}
	t, err := ParseTarget(w.Type, w.Target)
	if err != nil {
		return Errorf(EBadRequest, "malformed event: %s", ErrorMessage(err))
	}
	u, err := ParseID(w.User)
	if err != nil {
		return Errorf(EBadRequest, "malformed event: user: %s", ErrorMessage(err))
	}
	if w.At <= 0 {
		return Errorf(EBadRequest, "malformed event: at")
	}
	ev.ID, ev.Target, ev.User, ev.At, ev.Kept = w.ID, t, u, w.At, w.Kept
	*e = ev
	return nil
}

// canonicalEvent reads b if it is exactly what AppendJSON writes (those
// keys in that order, no spaces, no escapes), which every event zan
// publishes is; anything else is left to encoding/json. The persister
// decodes every event, and encoding/json's reflection was a twentieth of
// the embedded server's CPU under a like storm.
func canonicalEvent(b []byte) (w wireEvent, ok bool) {
	str := func(key string) (string, bool) {
		if !bytes.HasPrefix(b, []byte(key)) {
			return "", false
		}
		b = b[len(key):]
		i := bytes.IndexByte(b, '"')
		if i < 0 || bytes.IndexByte(b[:i], '\\') >= 0 {
			return "", false
		}
		v := string(b[:i])
		b = b[i+1:]
		return v, true
	}
	if w.ID, ok = str(`{"id":"`); !ok {
		return w, false
	}
	if w.Op, ok = str(`,"op":"`); !ok {
		return w, false
	}
	if w.Type, ok = str(`,"type":"`); !ok {
		return w, false
	}
	if w.Target, ok = str(`,"target":"`); !ok {
		return w, false
	}
	if w.User, ok = str(`,"user":"`); !ok {
		return w, false
	}
	if !bytes.HasPrefix(b, []byte(`,"at":`)) || len(b) < len(`,"at":`)+2 || b[len(b)-1] != '}' {
		return w, false
	}
	b = b[:len(b)-1]
	if rest, ok := bytes.CutSuffix(b, []byte(`,"kept":true`)); ok {
		b, w.Kept = rest, true
	}
	digits := b[len(`,"at":`):]
	for _, c := range digits {
		if c < '0' || c > '9' {
			return w, false
		}
	}
	if len(digits) > 1 && digits[0] == '0' {
		return w, false
	}
	at, err := strconv.ParseInt(string(digits), 10, 64)
	if err != nil {
		return w, false
	}
	w.At = at
	for _, v := range []string{w.ID, w.Op, w.Type, w.Target, w.User} {
		for i := 0; i < len(v); i++ {
			if v[i] < 0x20 || v[i] >= 0x80 {
				return w, false // control bytes, or UTF-8 that encoding/json would check
			}
		}
	}
	return w, true
}

// EventIDs makes event ids unique across processes without coordination: a
// random 64-bit prefix per process and a counter.
type EventIDs struct {
	prefix string
	n      atomic.Uint64
}

// NewEventIDs returns a source with a fresh random prefix.
func NewEventIDs() *EventIDs {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return &EventIDs{prefix: hex.EncodeToString(b[:]) + "-"}
}

// Next returns a new id.
func (s *EventIDs) Next() string {
	var buf [40]byte
	b := append(buf[:0], s.prefix...)
	return string(strconv.AppendUint(b, s.n.Add(1), 36))
}
