package zan

import (
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
}

// Liked reports whether the event leaves the user liking the target.
func (e Event) Liked() bool { return e.Op == OpLike }

// Time returns At as a time.
func (e Event) Time() time.Time { return time.UnixMicro(e.At).UTC() }

// AppendJSON appends the event's wire form:
// {"id":"..","op":"like","type":"blog","target":"42","user":"7","at":1763856000000000}
// Ids are strings, as everywhere in zan's JSON; at is Unix microseconds.
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
}

// UnmarshalJSON implements json.Unmarshaler; it rejects anything that is not
// a complete, valid event, so a malformed message never reaches the store.
func (e *Event) UnmarshalJSON(b []byte) error {
	var w wireEvent
	if err := json.Unmarshal(b, &w); err != nil {
		return Errorf(EBadRequest, "malformed event: %v", err)
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
	ev.ID, ev.Target, ev.User, ev.At = w.ID, t, u, w.At
	*e = ev
	return nil
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
