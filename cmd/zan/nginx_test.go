package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/zanlabs/zan/client"
)

// startNginx runs nginx (ZAN_TEST_NGINX, the binary) on a free port in
// front of the given nodes, with deploy/nginx/zan.conf as it ships (only
// its listen address and upstream list replaced), and returns its URL.
func startNginx(t *testing.T, nodes ...string) string {
	t.Helper()
	bin := os.Getenv("ZAN_TEST_NGINX")
	if bin == "" {
		t.Skip("ZAN_TEST_NGINX not set: set it to an nginx binary (Debian: apt-get install nginx; /usr/sbin/nginx) to run zan behind nginx")
	}
	dir := t.TempDir()
	var up strings.Builder
	for _, n := range nodes {
		fmt.Fprintf(&up, "server %s max_fails=2 fail_timeout=5s;\n", n)
	}
	write := func(name, s string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("zan-upstream.conf", up.String())
	b, err := os.ReadFile("../../deploy/nginx/zan.conf")
	if err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	conf := string(b)
	for old, repl := range map[string]string{
		"include /etc/nginx/zan-upstream.conf;": "include " + filepath.Join(dir, "zan-upstream.conf") + ";",
		"listen 80;":                            "listen " + addr + ";",
	} {
		if !strings.Contains(conf, old) {
			t.Fatalf("deploy/nginx/zan.conf has no %q", old)
		}
		conf = strings.Replace(conf, old, repl, 1)
	}
	write("zan.conf", conf)
	// One process, in the foreground, as the test's user: a test harness,
	// not how production runs it.
	var temps strings.Builder
	for _, k := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		fmt.Fprintf(&temps, "    %s_temp_path %s;\n", k, filepath.Join(dir, k))
	}
	write("nginx.conf", fmt.Sprintf(`daemon off;
master_process off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
%[2]s    include %[1]s/zan.conf;
}
`, dir, temps.String()))
	args := []string{"-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", filepath.Join(dir, "nginx.conf")}
	if out, err := exec.Command(bin, append([]string{"-t"}, args...)...).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Logf("nginx error log:\n%s", log)
		}
	})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("nginx did not listen")
		}
	}
	return "http://" + addr
}

// scaleOutArgs are the command-line flags of scaleOut, for child
// processes.
func scaleOutArgs(t *testing.T) []string {
	var c Config
	scaleOut(t)(&c)
	return []string{"--name", c.Name, "--redis", c.RedisURL, "--nats", c.NATSURL, "--db", c.DBURL}
}

// fromAddr is an HTTP client whose connections come from a loopback
// address of its own (127.0.0.2, ...): another client as nginx sees it.
func fromAddr(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: d.DialContext}}
}

// requestsServed reads a node's zan_http_requests_total from its /metrics.
func requestsServed(t *testing.T, node string) int {
	t.Helper()
	res, err := http.Get("http://" + node + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	total := 0.0
	for _, m := range regexp.MustCompile(`(?m)^zan_http_requests_total\{.*\} (\S+)$`).FindAllStringSubmatch(string(b), -1) {
		v, _ := strconv.ParseFloat(m[1], 64)
		total += v
	}
	return int(total)
}

// TestNginxTwoNodes runs two scale-out nodes (child processes) behind
// nginx with deploy/nginx/zan.conf: the two-node checks and the live
// counts through one address, each client's own address budget, then one
// node killed with SIGKILL under load while clients keep working.
func TestNginxTwoNodes(t *testing.T) {
	if os.Getenv("ZAN_TEST_NGINX") == "" {
		t.Skip("ZAN_TEST_NGINX not set: set it to an nginx binary (Debian: apt-get install nginx; /usr/sbin/nginx) to run zan behind nginx")
	}
	shared := append(scaleOutArgs(t), "--trusted-proxies", "127.0.0.1", "--ip-limits=true",
		"--ip-code-limit", "40/1h", "--ip-login-limit", "100/1m")
	addrA, addrB := freeAddr(t), freeAddr(t)
	a := startChild(t, t.TempDir(), addrA, append(shared, "--node-id", "1")...)
	startChild(t, t.TempDir(), addrB, append(shared, "--node-id", "2")...)
	base := startNginx(t, addrA, addrB)
	servedA, servedB := requestsServed(t, addrA), requestsServed(t, addrB)

	// The two-node checks, through one address.
	u, uid := login(t, base)
	for i := range 10 {
		u.expect(200, "PUT", fmt.Sprintf("/api/v1/likes/comment/%d", i+1), nil)
		if v := u.expect(200, "GET", fmt.Sprintf("/api/v1/likes/comment/%d", i+1), nil).json(t); v["count"] != 1.0 || v["liked"] != true {
			t.Fatalf("read-your-writes through nginx: %v", v)
		}
	}
	blog := u.expect(201, "POST", "/api/v1/blogs", map[string]string{"title": "behind nginx", "content": "c"}).json(t)["id"].(string)
	u.expect(200, "PUT", "/api/v1/likes/blog/"+blog, nil)
	eventually(t, "the liker listed", func() error {
		items := u.expect(200, "GET", "/api/v1/likes/blog/"+blog+"/users", nil).json(t)["items"].([]any)
		if len(items) != 1 || items[0].(map[string]any)["user_id"] != uid {
			return fmt.Errorf("likers %v", items)
		}
		return nil
	})
	out, _ := login(t, base)
	out.expect(204, "POST", "/api/v1/auth/logout", nil)
	for range 4 { // whichever node answers, the token is gone
		out.expectSoon(401, "GET", "/api/v1/me", nil)
	}
	da, db := requestsServed(t, addrA)-servedA, requestsServed(t, addrB)-servedB
	if da < 5 || db < 5 {
		t.Errorf("nginx spread the requests %d / %d over the nodes", da, db)
	}
	t.Logf("requests served through nginx: node A %d, node B %d", da, db)

	// Each client its own budget: nginx passes the address on, the nodes
	// believe it from nginx only.
	for k, c := range []struct {
		ip   string
		n    int
		want int
	}{{"127.0.0.2", 45, 40}, {"127.0.0.3", 3, 3}} {
		hc, ok := fromAddr(c.ip), 0
		for i := range c.n {
			res, err := hc.Post(base+"/api/v1/auth/code", "application/json",
				strings.NewReader(fmt.Sprintf(`{"phone":"13%d%08d"}`, k+5, i)))
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode == 200 {
				ok++
			} else if res.StatusCode != 429 {
				t.Fatalf("code request from %s: %s", c.ip, res.Status)
			}
		}
		if ok != c.want {
			t.Errorf("code requests from %s through nginx: %d passed, want %d", c.ip, ok, c.want)
		}
	}

	// Live counts through nginx: unbuffered, a like on either node reaches
	// the stream.
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	const target = 777
	events := make(chan int64, 1024)
	go func() {
		for ev, err := range client.New(base, client.WithRetries(1000, 50*time.Millisecond)).Stream(ctx, []client.Target{{Type: "comment", ID: target}}) {
			if err == nil {
				events <- ev.Count
			}
		}
	}()
	waitCount := func(want int64, within time.Duration) (time.Duration, bool) {
		start := time.Now()
		timeout := time.After(within)
		for {
			select {
			case n := <-events:
				if n == want {
					return time.Since(start), true
				}
			case <-timeout:
				return within, false
			}
		}
	}
	if _, ok := waitCount(0, 5*time.Second); !ok {
		t.Fatal("no initial count through nginx")
	}
	likers := make([]*api, 20)
	for i := range likers {
		likers[i], _ = login(t, base)
	}
	var lat []time.Duration
	for i, l := range likers {
		l.expect(200, "PUT", fmt.Sprintf("/api/v1/likes/comment/%d", target), nil)
		d, ok := waitCount(int64(i+1), 2*time.Second)
		if !ok {
			t.Fatalf("like %d did not reach the stream through nginx within 2 s", i+1)
		}
		lat = append(lat, d)
	}
	slices.Sort(lat)
	t.Logf("like → event through nginx over %d likes: p50 %v, max %v", len(lat),
		lat[len(lat)/2].Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond))

	// Node A killed under load: idempotent calls are retried on node B by
	// nginx, logins go to B, the stream reconnects.
	var (
		ok, failed atomic.Int64
		mu         sync.Mutex
		failures   []string
		slowest    atomic.Int64
	)
	loadCtx, stopLoad := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hc := &http.Client{Timeout: 15 * time.Second}
			tok := likers[w].token
			for i := 0; loadCtx.Err() == nil; i++ {
				method, path := "GET", fmt.Sprintf("/api/v1/likes/comment/%d", 1000+w*100+i%50)
				switch i % 3 {
				case 1:
					method = "PUT"
				case 2:
					method = "DELETE"
				}
				req, _ := http.NewRequest(method, base+path, nil)
				req.Header.Set("Authorization", "Bearer "+tok)
				start := time.Now()
				res, err := hc.Do(req)
				d := time.Since(start)
				for old := slowest.Load(); int64(d) > old && !slowest.CompareAndSwap(old, int64(d)); old = slowest.Load() {
				}
				if err == nil && res.StatusCode == 200 {
					res.Body.Close()
					ok.Add(1)
					continue
				}
				failed.Add(1)
				mu.Lock()
				if err != nil {
					failures = append(failures, fmt.Sprintf("%s %s: %v", method, path, err))
				} else {
					failures = append(failures, fmt.Sprintf("%s %s: %s", method, path, res.Status))
					res.Body.Close()
				}
				mu.Unlock()
			}
		}()
	}
	time.Sleep(time.Second)
	before := ok.Load()
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = a.cmd.Wait()
	killedAt := time.Now()
	time.Sleep(3 * time.Second)
	stopLoad()
	wg.Wait()
	t.Logf("load through nginx: %d requests answered 200 (%d after node A was killed), %d failed, slowest %v",
		ok.Load(), ok.Load()-before, failed.Load(), time.Duration(slowest.Load()).Round(time.Millisecond))
	if failed.Load() > 0 {
		t.Errorf("%d requests failed after node A was killed: %v", failed.Load(), failures[:min(len(failures), 10)])
	}
	if ok.Load()-before < 50 {
		t.Errorf("only %d requests answered after the kill", ok.Load()-before)
	}
	// New sign-ins and likes still work, and the stream follows them.
	late, _ := login(t, base)
	likeAt := time.Now()
	late.expect(200, "PUT", fmt.Sprintf("/api/v1/likes/comment/%d", target), nil)
	d, okEv := waitCount(int64(len(likers)+1), 15*time.Second)
	if !okEv {
		t.Fatal("the live stream did not carry a like made after node A was killed")
	}
	t.Logf("a like made %v after the kill reached the stream (reconnected if it was on node A) in %v",
		likeAt.Sub(killedAt).Round(time.Millisecond), d.Round(time.Millisecond))
}
