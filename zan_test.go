package zan_test

import (
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/zanlabs/zan"
)

func TestParseTarget(t *testing.T) {
	for _, tc := range []struct {
		typ, id string
		want    zan.Target
		code    string
	}{
		{"blog", "42", zan.Target{Type: "blog", ID: 42}, ""},
		{"a", "9223372036854775807", zan.Target{Type: "a", ID: 9223372036854775807}, ""},
		{"x_1", "1", zan.Target{Type: "x_1", ID: 1}, ""},
		{"Blog", "1", zan.Target{}, zan.EBadRequest},
		{"1blog", "1", zan.Target{}, zan.EBadRequest},
		{"", "1", zan.Target{}, zan.EBadRequest},
		{"abcdefghijabcdefghijabcdefghijabc", "1", zan.Target{}, zan.EBadRequest}, // 33 chars
		{"blog", "0", zan.Target{}, zan.EBadRequest},
		{"blog", "-1", zan.Target{}, zan.EBadRequest},
		{"blog", "+1", zan.Target{}, zan.EBadRequest},
		{"blog", "9223372036854775808", zan.Target{}, zan.EBadRequest},
		{"blog", "1e3", zan.Target{}, zan.EBadRequest},
		{"blog", "", zan.Target{}, zan.EBadRequest},
	} {
		got, err := zan.ParseTarget(tc.typ, tc.id)
		if zan.ErrorCode(err) != tc.code || got != tc.want {
			t.Errorf("ParseTarget(%q, %q) = %v, %v; want %v, code %q", tc.typ, tc.id, got, err, tc.want, tc.code)
		}
	}
}

func TestParseTargetList(t *testing.T) {
	ts, err := zan.ParseTargetList("blog:1,comment:9,blog:1", 200)
	if err != nil || len(ts) != 3 || ts[1] != (zan.Target{Type: "comment", ID: 9}) {
		t.Fatalf("got %v, %v", ts, err)
	}
	for _, bad := range []string{"", "blog", "blog:1,", ",blog:1", "blog:x", "blog:1:2"} {
		if _, err := zan.ParseTargetList(bad, 200); zan.ErrorCode(err) != zan.EBadRequest {
			t.Errorf("%q: err %v, want bad_request", bad, err)
		}
	}
	if _, err := zan.ParseTargetList("a:1,a:2,a:3", 2); zan.ErrorCode(err) != zan.EBadRequest {
		t.Errorf("over the maximum: err %v", err)
	}
}

func TestCursorRoundTrip(t *testing.T) {
	for _, c := range []zan.Cursor{{}, {At: 1763856000123456, ID: 7}, {At: 1, Type: "blog", ID: 9}, {Score: 12, ID: 3}} {
		got, err := zan.DecodeCursor(c.Encode())
		if err != nil || *got != c {
			t.Errorf("round trip of %+v: %+v, %v", c, got, err)
		}
	}
	if c, err := zan.DecodeCursor(""); c != nil || err != nil {
		t.Errorf("empty cursor: %v %v", c, err)
	}
	for _, bad := range []string{"!!", "eyJ9", "bm90IGpzb24", `eyJ0IjoiQkFEIn0`} {
		if _, err := zan.DecodeCursor(bad); zan.ErrorCode(err) != zan.EBadRequest {
			t.Errorf("%q: err %v, want bad_request", bad, err)
		}
	}
}

func TestEventJSON(t *testing.T) {
	ev := zan.Event{ID: `a"b\c`, Op: zan.OpUnlike, Target: zan.Target{Type: "blog", ID: 42}, User: 7, At: 1763856000123456}
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	var got zan.Event
	if err := json.Unmarshal(b, &got); err != nil || got != ev {
		t.Fatalf("round trip: %s -> %+v, %v", b, got, err)
	}
	for _, bad := range []string{
		`{}`, `{"id":"x","op":"love","type":"blog","target":"1","user":"1","at":1}`,
		`{"id":"x","op":"like","type":"Blog","target":"1","user":"1","at":1}`,
		`{"id":"x","op":"like","type":"blog","target":"0","user":"1","at":1}`,
		`{"id":"x","op":"like","type":"blog","target":"1","user":"1","at":0}`,
		`{"id":"","op":"like","type":"blog","target":"1","user":"1","at":1}`,
		`[1]`, `nul`,
	} {
		if err := json.Unmarshal([]byte(bad), &got); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}

func TestIDGenOrderedAndUnique(t *testing.T) {
	g := zan.NewIDGen(3)
	const workers, each = 4, 20000
	var mu sync.Mutex
	seen := make(map[int64]bool, workers*each)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			last := int64(0)
			local := make([]int64, 0, each)
			for range each {
				id := g.Next()
				if id <= last {
					t.Errorf("id %d after %d", id, last)
					return
				}
				last = id
				local = append(local, id)
			}
			mu.Lock()
			defer mu.Unlock()
			for _, id := range local {
				if seen[id] {
					t.Errorf("duplicate id %d", id)
				}
				seen[id] = true
			}
		}()
	}
	wg.Wait()
	if d := time.Since(zan.IDTime(g.Next())); d < -time.Second || d > 5*time.Second {
		t.Errorf("IDTime is %v off", d)
	}
}

func TestErrorCodes(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code string
	}{
		{nil, ""},
		{errors.New("boom"), zan.EInternal},
		{zan.Errorf(zan.ENotFound, "x"), zan.ENotFound},
		{zan.Unavailable("db", errors.New("down")), zan.EUnavailable},
		{zan.Unavailable("db", zan.Errorf(zan.EConflict, "x")), zan.EConflict},
	} {
		if got := zan.ErrorCode(tc.err); got != tc.code {
			t.Errorf("ErrorCode(%v) = %q, want %q", tc.err, got, tc.code)
		}
	}
	if msg := zan.ErrorMessage(errors.New("secret detail")); msg != "internal error" {
		t.Errorf("internal error text leaks: %q", msg)
	}
}
