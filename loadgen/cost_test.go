package loadgen

import (
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// The lookup by port finds a listener this test opens itself, in this
// process, over IPv4 and IPv6.
func TestPIDByPort(t *testing.T) {
	for _, network := range []string{"tcp4", "tcp6"} {
		addr := "127.0.0.1:0"
		if network == "tcp6" {
			addr = "[::1]:0"
		}
		l, err := net.Listen(network, addr)
		if err != nil {
			t.Logf("%s: %v (skipped)", network, err)
			continue
		}
		pid, err := PIDByPort(l.Addr().(*net.TCPAddr).Port)
		l.Close()
		if err != nil || pid != os.Getpid() {
			t.Errorf("%s: PIDByPort = %d, %v; want %d", network, pid, err, os.Getpid())
		}
	}
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	if pid, err := PIDByPort(port); err == nil {
		t.Errorf("a closed port: PIDByPort = %d, want an error", pid)
	}
}

func TestListeners(t *testing.T) {
	table := `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:18EB 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1111 1 0000000000000000 100 0 0 10 0
   1: 0100007F:C350 0100007F:18EB 01 00000000:00000000 00:00000000 00000000     0        0 2222 1 0000000000000000 20 4 30 10 -1
   2: 00000000:18EB 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 3333 1 0000000000000000 100 0 0 10 0
   3: 00000000:18EC 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4444 1 0000000000000000 100 0 0 10 0
`
	got := listeners(strings.NewReader(table), 6379)
	if strings.Join(got, ",") != "1111,3333" {
		t.Errorf("listeners on 6379 = %v, want [1111 3333] (not the connection to it, not 6380)", got)
	}
}

func TestParseStat(t *testing.T) {
	for _, tc := range []struct {
		line string
		want time.Duration
		ok   bool
	}{
		{"42 (redis-server) S 1 42 42 0 -1 4194560 100 0 0 0 150 25 0 0 20 0 4 0 100 1000 100", 1750 * time.Millisecond, true},
		{"42 (a (b) c) R 1 42 42 0 -1 4194560 100 0 0 0 3 4 0 0 20 0 4 0 100 1000 100", 70 * time.Millisecond, true},
		{"42 (x) S 1 2", 0, false},
		{"garbage", 0, false},
	} {
		got, err := parseStat([]byte(tc.line))
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseStat(%q) = %v, %v; want %v (ok %v)", tc.line, got, err, tc.want, tc.ok)
		}
	}
	// This process's CPU, read both ways, agrees to a few ticks.
	busy := time.Now()
	for time.Since(busy) < 30*time.Millisecond {
	}
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		t.Skip("no /proc")
	}
	fromStat, err := parseStat(b)
	if err != nil {
		t.Fatal(err)
	}
	fromRusage, err := ProcCPU(os.Getpid())
	if err != nil || fromRusage <= 0 || fromStat < 0 {
		t.Fatalf("ProcCPU(self) = %v, %v; /proc says %v", fromRusage, err, fromStat)
	}
}

func TestParseWatch(t *testing.T) {
	w, err := ParseWatch("redis=6379, nats=4222,db=3306")
	if err != nil || len(w) != 3 || w[0] != (Watch{"redis", 6379}) || w[2] != (Watch{"db", 3306}) {
		t.Errorf("ParseWatch = %v, %v", w, err)
	}
	for _, bad := range []string{"redis", "redis=x", "=6379", "redis=70000"} {
		if _, err := ParseWatch(bad); err == nil {
			t.Errorf("ParseWatch(%q): no error", bad)
		}
	}
}

// The cost of two readings: per-process CPU per request, the server
// processes summed (not the load generator), the limit they imply.
func TestCost(t *testing.T) {
	p := &probe{procs: []procRef{
		{name: "zan", pid: 1, server: true}, {name: "bench", pid: 2, load: true}, {name: "redis", pid: 3, server: true},
	}}
	a := reading{cpu: []time.Duration{time.Second, time.Second, -1}, bytes: 1000, allocs: 10}
	b := reading{cpu: []time.Duration{time.Second + 40*time.Millisecond, time.Second + 20*time.Millisecond, -1}, bytes: 5000, allocs: 50}
	c := p.cost(a, b, 1000)
	if len(c.Procs) != 2 || c.Procs[0].US != 40 || c.Procs[1].US != 20 || c.ServerUS != 40 || c.Bytes != 4 || c.Allocs != 0.04 {
		t.Errorf("cost = %+v", c)
	}
	if want := float64(c.Cores) * 1e6 / 40; c.Limit != want {
		t.Errorf("limit %v, want %v", c.Limit, want)
	}
	if p.cost(a, b, 0) != nil {
		t.Error("no requests: want no cost")
	}
}
