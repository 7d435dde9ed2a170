package zan_test

import (
	"encoding/json"
	"testing"

	"github.com/zanlabs/zan"
)

// The parsers below read client input: they must answer bad_request for
// anything malformed, and never panic.

func FuzzParseTargetList(f *testing.F) {
	for _, s := range []string{"blog:1", "blog:1,comment:2", "", ",", "blog:", ":1", "blog:-1", "a:99999999999999999999", "blog:1,,x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ts, err := zan.ParseTargetList(s, 200)
		if err != nil {
			if zan.ErrorCode(err) != zan.EBadRequest {
				t.Fatalf("%q: code %q", s, zan.ErrorCode(err))
			}
			return
		}
		for _, tg := range ts {
			if tg.ID <= 0 || !zan.ValidType(tg.Type) {
				t.Fatalf("%q: accepted %v", s, tg)
			}
		}
	})
}

func FuzzDecodeCursor(f *testing.F) {
	for _, c := range []zan.Cursor{{At: 1, ID: 2}, {Type: "blog", ID: 3}, {Score: 5, ID: 1}} {
		f.Add(c.Encode())
	}
	f.Add("%%%")
	f.Add("eyJhIjoxfQ")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := zan.DecodeCursor(s)
		if err != nil {
			if zan.ErrorCode(err) != zan.EBadRequest {
				t.Fatalf("%q: code %q", s, zan.ErrorCode(err))
			}
			return
		}
		if c != nil {
			if again, err := zan.DecodeCursor(c.Encode()); err != nil || *again != *c {
				t.Fatalf("%q: re-encode differs: %+v %v", s, again, err)
			}
		}
	})
}

func FuzzEventJSON(f *testing.F) {
	f.Add([]byte(`{"id":"x-1","op":"like","type":"blog","target":"1","user":"2","at":3}`))
	f.Add([]byte(`{"id":"x","op":"unlike","type":"b","target":"9223372036854775807","user":"1","at":1}`))
	f.Add([]byte(`{"op":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var ev zan.Event
		if err := json.Unmarshal(b, &ev); err != nil {
			return
		}
		var again zan.Event
		if err := json.Unmarshal(ev.AppendJSON(nil), &again); err != nil || again != ev {
			t.Fatalf("%s: round trip %+v -> %+v, %v", b, ev, again, err)
		}
	})
}
