package redis

import (
	"bufio"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/zanlabs/zan"
)

// A feed read of 200 targets is one command to the server (one script
// call, not one per target), and writes nothing, even when every target's
// "used" mark is stale: the marks are queued and written by the marker.
// Counted on the server with MONITOR, which also shows what the scripts
// call (as "lua").
func TestStateOneCallNoWrites(t *testing.T) {
	addr := testAddr(t)
	slack, every := readSlack, markEvery
	readSlack, markEvery = 0, time.Hour // every read finds its targets stale; only flushMarks writes
	t.Cleanup(func() { readSlack, markEvery = slack, every })
	c := open(t, Config{Addrs: []string{addr}})
	l := c.Likes()
	ctx := t.Context()
	ts := make([]zan.Target, 200)
	for i := range ts {
		ts[i] = zan.Target{Type: "comment", ID: int64(i + 1)}
		if i%2 == 0 {
			if err := l.Load(ctx, ts[i], []int64{7, int64(i + 100)}, 0); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := l.State(ctx, ts[:1], 7); err != nil { // the script is on the server now
		t.Fatal(err)
	}
	since := time.Now()
	l.c.marks.take()

	mon := monitor(t, addr)
	st, err := l.State(ctx, ts, 7)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range st {
		if want := i%2 == 0; s.Loaded != want || s.Liked != want || (want && s.Count != 2) {
			t.Fatalf("target %d: %+v", i, s)
		}
	}
	sentinel := "{" + c.prefix + ":sentinel}"
	c.c.Do(ctx, c.c.B().Get().Key(sentinel).Build())
	var calls, writes []string
	for line := range mon {
		if strings.Contains(line, sentinel) {
			break
		}
		if !strings.Contains(line, c.prefix) {
			continue
		}
		if !strings.Contains(line, " lua]") {
			calls = append(calls, line)
		}
		for _, w := range []string{`"HSET"`, `"ZADD"`, `"SADD"`, `"SREM"`, `"HDEL"`, `"DEL"`, `"UNLINK"`, `"HINCRBY"`} {
			if strings.Contains(line, w) {
				writes = append(writes, line)
			}
		}
	}
	if len(calls) != 1 || !strings.Contains(strings.ToUpper(calls[0]), `"EVALSHA"`) {
		t.Errorf("a read of 200 targets sent %d commands, want one EVALSHA: %.300q", len(calls), calls)
	}
	if len(writes) > 0 {
		t.Errorf("a read wrote: %.300q", writes)
	}

	// The marker writes the loaded targets' marks, and makes no hash of
	// the others.
	if err := l.flushMarks(ctx); err != nil {
		t.Fatal(err)
	}
	used, err := l.Used(ctx, since, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if len(used) != 100 {
		t.Errorf("after the marks were written, %d targets used since the read, want the 100 loaded", len(used))
	}
	n, err := c.c.Do(ctx, c.c.B().Exists().Key(l.key(ts[1])).Build()).AsInt64()
	if err != nil || n != 0 {
		t.Errorf("a mark made a hash of a target not loaded: %d, %v", n, err)
	}
}

// monitor streams the server's MONITOR lines until the test ends.
func monitor(t *testing.T, addr string) <-chan string {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := conn.Write([]byte("MONITOR\r\n")); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(conn)
	if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "+OK") {
		t.Fatalf("MONITOR: %q, %v", line, err)
	}
	out := make(chan string, 1024)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() {
		defer close(out)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			select {
			case out <- line:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}
