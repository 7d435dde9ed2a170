package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sseData follows a Server-Sent Events stream, sending the data of each
// event (buffer: how many may wait unread).
func sseData(t *testing.T, ctx context.Context, url string, buffer int) <-chan string {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 {
		t.Fatalf("stream %s: %s", url, res.Status)
	}
	ch := make(chan string, buffer)
	go func() {
		defer res.Body.Close()
		defer close(ch)
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			if line, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				ch <- line
			}
		}
	}()
	return ch
}

// sseEvents reads count events of a live stream into a channel of
// "type/id=count".
func sseEvents(t *testing.T, ctx context.Context, url string) <-chan string {
	t.Helper()
	data := sseData(t, ctx, url, 1024)
	ch := make(chan string, 1024)
	go func() {
		defer close(ch)
		for line := range data {
			// {"type":"comment","id":"7","count":1}
			f := strings.FieldsFunc(line, func(r rune) bool { return strings.ContainsRune(`{}":,`, r) })
			if len(f) == 6 {
				ch <- f[1] + "/" + f[3] + "=" + f[5]
			}
		}
	}()
	return ch
}

// TestLiveAcrossNodes: a like on node A reaches a live stream on node B
// within 1 s. It measures the time from the like's 200 to the event over
// ZAN_LIVE_LIKES likes (100 by default).
func TestLiveAcrossNodes(t *testing.T) {
	cfg := scaleOut(t)
	a := startServer(t, cfg)
	b := startServer(t, cfg, func(c *Config) { c.NodeID = 1 })
	n := 100
	if v, err := strconv.Atoi(os.Getenv("ZAN_LIVE_LIKES")); err == nil && v > 0 {
		n = v
	}
	base := time.Now().UnixNano() % 1e9 * 1000
	var targets []string
	for i := range 200 {
		targets = append(targets, fmt.Sprintf("comment:%d", base+int64(i)))
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	events := sseEvents(t, ctx, baseOf(b)+"/api/v1/likes/stream?targets="+strings.Join(targets, ","))
	for range 200 { // the initial counts
		<-events
	}
	users := make([]*api, 5)
	for i := range users {
		users[i], _ = login(t, baseOf(a))
	}
	var lat []time.Duration
	for i := range n {
		tg := fmt.Sprintf("comment/%d", base+int64(i%200))
		want := fmt.Sprintf("%s=%d", tg, i/200+1)
		users[i/200%len(users)].expect(200, "PUT", "/api/v1/likes/"+tg, nil)
		start := time.Now()
		timeout := time.After(time.Second)
	wait:
		for {
			select {
			case e := <-events:
				if e == want {
					break wait
				}
			case <-timeout:
				t.Fatalf("like %d (%s) did not reach node B's stream within 1 s", i, want)
			}
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	t.Logf("like on A → event on B over %d likes: p50 %v, p99 %v, max %v", n,
		lat[len(lat)/2].Round(time.Millisecond), lat[len(lat)*99/100].Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond))
}

// rss returns a process's resident memory in bytes.
func rss(t *testing.T, pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skip("no /proc: cannot measure memory")
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// TestLiveIdleSubscribers: 2,000 idle live streams cost a server less than
// 50 MB, and the 2,001st beyond --stream-max answers 503.
func TestLiveIdleSubscribers(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 2,000 connections")
	}
	c := startChild(t, t.TempDir(), freeAddr(t), "--stream-max", "2000")
	before := rss(t, c.cmd.Process.Pid)
	var conns []net.Conn
	defer func() {
		for _, cn := range conns {
			cn.Close()
		}
	}()
	req := "GET /api/v1/likes/stream?targets=blog:1,blog:2,comment:3 HTTP/1.1\r\nHost: x\r\n\r\n"
	for i := range 2000 {
		cn, err := net.Dial("tcp", c.addr)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		conns = append(conns, cn)
		if _, err := cn.Write([]byte(req)); err != nil {
			t.Fatal(err)
		}
		// Read the head and the first events, so the stream is set up.
		cn.SetReadDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, 1024)
		if n, err := cn.Read(buf); err != nil || !strings.Contains(string(buf[:n]), "200 OK") {
			t.Fatalf("stream %d: %v %q", i, err, buf[:n])
		}
	}
	time.Sleep(500 * time.Millisecond)
	after := rss(t, c.cmd.Process.Pid)
	per := float64(after-before) / 2000
	t.Logf("2,000 idle live streams: %.1f MB in all, %.1f KB each", float64(after-before)/(1<<20), per/1024)
	if after-before > 50<<20 {
		t.Errorf("2,000 idle streams cost %d MB, want < 50", (after-before)>>20)
	}
	res, err := http.Get("http://" + c.addr + "/api/v1/likes/stream?targets=blog:1")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 503 {
		t.Errorf("stream 2,001 beyond --stream-max: %s, want 503", res.Status)
	}
}
