package zan

import (
	"encoding/json"
	"testing"
)

// FuzzCanonicalEvent: whatever the fast path reads, encoding/json reads the
// same way, so the fast path changes speed only.
func FuzzCanonicalEvent(f *testing.F) {
	f.Add([]byte(`{"id":"x-1","op":"like","type":"blog","target":"1","user":"2","at":3}`))
	f.Add([]byte(`{"id":"x","op":"unlike","type":"b","target":"9223372036854775807","user":"1","at":1}`))
	f.Add([]byte(`{"id":"x\"","op":"like","type":"blog","target":"1","user":"2","at":3}`))
	f.Add([]byte(`{"id":"x","op":"like","type":"blog","target":"1","user":"2","at":03}`))
	f.Add([]byte(`{"id":"é","op":"like","type":"blog","target":"1","user":"2","at":3}`))
	f.Add([]byte(`{"id":"x","op":"like","type":"blog","target":"1","user":"2","at":3,"kept":true}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		fast, ok := canonicalEvent(b)
		if !ok {
			return
		}
		var slow wireEvent
		if err := json.Unmarshal(b, &slow); err != nil || slow != fast {
			t.Fatalf("%s: fast path read %+v, encoding/json %+v, %v", b, fast, slow, err)
		}
	})
}

func TestCanonicalEvent(t *testing.T) {
	ev := Event{ID: "p-1", Op: OpUnlike, Target: Target{Type: "comment", ID: 1 << 60}, User: 7, At: 1795449930743230}
	kept := ev
	kept.Kept, kept.Op = true, OpLike
	tests := []struct {
		name string
		in   string
		fast bool
	}{
		{"as published", string(ev.AppendJSON(nil)), true},
		{"kept, as published", string(kept.AppendJSON(nil)), true},
		{"kept false", `{"id":"p-1","op":"unlike","type":"comment","target":"1","user":"7","at":1,"kept":false}`, false},
		{"spaces", `{"id": "p-1","op":"unlike","type":"comment","target":"1","user":"7","at":1}`, false},
		{"keys reordered", `{"op":"unlike","id":"p-1","type":"comment","target":"1","user":"7","at":1}`, false},
		{"escape in id", `{"id":"p\u002d1","op":"unlike","type":"comment","target":"1","user":"7","at":1}`, false},
		{"trailing field", `{"id":"p-1","op":"unlike","type":"comment","target":"1","user":"7","at":1,"x":2}`, false},
		{"negative at", `{"id":"p-1","op":"unlike","type":"comment","target":"1","user":"7","at":-1}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, ok := canonicalEvent([]byte(tt.in)); ok != tt.fast {
				t.Fatalf("fast path %v, want %v", ok, tt.fast)
			}
			var got Event
			err := got.UnmarshalJSON([]byte(tt.in))
			var want wireEvent
			jerr := json.Unmarshal([]byte(tt.in), &want)
			if (err == nil) != (jerr == nil && want.At > 0) {
				t.Fatalf("UnmarshalJSON: %v; encoding/json: %v", err, jerr)
			}
		})
	}
	for _, ev := range []Event{ev, kept} {
		var got Event
		if err := got.UnmarshalJSON(ev.AppendJSON(nil)); err != nil || got != ev {
			t.Fatalf("round trip: %+v, %v; want %+v", got, err, ev)
		}
	}
}

func BenchmarkEventUnmarshal(b *testing.B) {
	raw := Event{ID: "0123456789abcdef-42", Op: OpLike, Target: Target{Type: "comment", ID: 118339478963093507}, User: 118339478963093999, At: 1795449930743230}.AppendJSON(nil)
	b.Run("UnmarshalJSON", func(b *testing.B) {
		for b.Loop() {
			var ev Event
			if err := ev.UnmarshalJSON(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
	// The two ways to read the wire form: what the fast path saves.
	b.Run("canonical", func(b *testing.B) {
		for b.Loop() {
			if _, ok := canonicalEvent(raw); !ok {
				b.Fatal("not canonical")
			}
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		for b.Loop() {
			var w wireEvent
			if err := json.Unmarshal(raw, &w); err != nil {
				b.Fatal(err)
			}
		}
	})
}
