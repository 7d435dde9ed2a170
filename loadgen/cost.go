package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Cost is what one request of a scenario cost, by process: CPU read from
// the kernel before and after the measurement, and what zan allocated.
// CPU is far less sensitive than throughput to other load on the machine,
// so it is what the cost model is built on.
type Cost struct {
	Procs []ProcCost `json:"procs"`
	// ServerUS is the CPU µs per request of every process but the load
	// generator; when zan runs inside the load generator (zan bench
	// without --url) it includes the generator's share.
	ServerUS float64 `json:"server_us"`
	// Limit is the requests per second the machine's cores could serve if
	// the server processes had them all: cores × 1e6 / ServerUS.
	Limit float64 `json:"limit_rps"`
	Cores int     `json:"cores"`
	// Bytes and Allocs are heap bytes and objects allocated per request by
	// the zan process (with the generator's, when it is the same process).
	Bytes  float64 `json:"bytes_per_req"`
	Allocs float64 `json:"allocs_per_req"`
}

// ProcCost is one process's CPU per request.
type ProcCost struct {
	Name string  `json:"name"`
	PID  int     `json:"pid"`
	US   float64 `json:"cpu_us_per_req"`
	// Load marks the load generator: not part of ServerUS unless the
	// server runs in it.
	Load bool `json:"load_generator,omitempty"`
}

// Watch names a process to measure by the TCP port it listens on.
type Watch struct {
	Name string
	Port int
}

// ParseWatch parses "redis=6379,nats=4222,db=3306".
func ParseWatch(s string) ([]Watch, error) {
	var out []Watch
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, port, ok := strings.Cut(part, "=")
		p, err := strconv.Atoi(port)
		if !ok || name == "" || err != nil || p < 1 || p > 65535 {
			return nil, fmt.Errorf("%q: want name=port", part)
		}
		out = append(out, Watch{name, p})
	}
	return out, nil
}

// probe takes the readings a Cost is computed from.
type probe struct {
	procs   []procRef
	metrics string // the zan server's /metrics, for its allocations; "" reads this process's
	client  *http.Client
}

type procRef struct {
	name   string
	pid    int
	load   bool // the load generator, or the process it shares with a server
	server bool // counted in ServerUS
}

// reading is one probe's readings at one moment.
type reading struct {
	cpu           []time.Duration // by procs index; -1 when unreadable
	bytes, allocs float64
}

// newProbe finds the processes: zan by the port of serverURL when it is on
// this machine (this process when zan runs in it), and those watched.
// Processes it cannot find are left out: the cost model then says less,
// the run goes on.
func newProbe(serverURL string, watch []Watch, client *http.Client) *probe {
	p := &probe{client: client}
	self := os.Getpid()
	zan := 0
	if u, err := url.Parse(serverURL); err == nil && isLoopback(u.Hostname()) {
		if port, err := strconv.Atoi(u.Port()); err == nil {
			zan, _ = PIDByPort(port)
		}
		p.metrics = serverURL + "/metrics"
	}
	switch {
	case zan == self:
		p.procs = append(p.procs, procRef{name: "zan+bench", pid: self, load: true, server: true})
		p.metrics = ""
	case zan > 0:
		p.procs = append(p.procs, procRef{name: "zan", pid: zan, server: true}, procRef{name: "bench", pid: self, load: true})
	default:
		p.procs = append(p.procs, procRef{name: "bench", pid: self, load: true})
	}
	for _, w := range watch {
		if pid, err := PIDByPort(w.Port); err == nil {
			p.procs = append(p.procs, procRef{name: w.Name, pid: pid, server: true})
		}
	}
	return p
}

// selfProbe measures this process alone: the baseline's bare server runs in it.
func selfProbe() *probe {
	return &probe{procs: []procRef{{name: "bench+bare", pid: os.Getpid(), load: true, server: true}}}
}

func isLoopback(host string) bool {
	return host == "localhost" || strings.HasPrefix(host, "127.") || host == "::1"
}

func (p *probe) read(ctx context.Context) reading {
	var r reading
	for _, pr := range p.procs {
		d, err := ProcCPU(pr.pid)
		if err != nil {
			d = -1
		}
		r.cpu = append(r.cpu, d)
	}
	if p.metrics == "" {
		r.bytes, r.allocs = selfAllocs()
	} else {
		r.bytes, r.allocs = p.scrape(ctx)
	}
	return r
}

// cost turns two readings n requests apart into a Cost.
func (p *probe) cost(a, b reading, n int64) *Cost {
	if n <= 0 {
		return nil
	}
	c := &Cost{Cores: runtime.NumCPU()}
	for i, pr := range p.procs {
		if a.cpu[i] < 0 || b.cpu[i] < 0 {
			continue
		}
		us := float64((b.cpu[i] - a.cpu[i]).Microseconds()) / float64(n)
		c.Procs = append(c.Procs, ProcCost{Name: pr.name, PID: pr.pid, US: us, Load: pr.load})
		if pr.server {
			c.ServerUS += us
		}
	}
	if c.ServerUS > 0 {
		c.Limit = float64(c.Cores) * 1e6 / c.ServerUS
	}
	if b.bytes >= a.bytes && b.allocs >= a.allocs && b.bytes > 0 {
		c.Bytes = (b.bytes - a.bytes) / float64(n)
		c.Allocs = (b.allocs - a.allocs) / float64(n)
	}
	return c
}

// selfAllocs reads this process's cumulative heap allocations.
func selfAllocs() (bytes, objects float64) {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}, {Name: "/gc/heap/allocs:objects"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 || s[1].Value.Kind() != metrics.KindUint64 {
		return 0, 0
	}
	return float64(s[0].Value.Uint64()), float64(s[1].Value.Uint64())
}

// scrape reads the server's cumulative allocations from its /metrics (the
// Go collector's counters); zeros when it has none.
func (p *probe) scrape(ctx context.Context) (bytes, objects float64) {
	req, err := http.NewRequestWithContext(ctx, "GET", p.metrics, nil)
	if err != nil {
		return 0, 0
	}
	res, err := p.client.Do(req)
	if err != nil {
		return 0, 0
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return 0, 0
	}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		switch name {
		case "go_memstats_alloc_bytes_total":
			bytes, _ = strconv.ParseFloat(val, 64)
		case "go_memstats_mallocs_total":
			objects, _ = strconv.ParseFloat(val, 64)
		}
	}
	return bytes, objects
}

// clockTick is USER_HZ, the unit of /proc/PID/stat's times: 100 on every
// Linux architecture Go runs on.
const clockTick = 10 * time.Millisecond

// ProcCPU returns the user+system CPU time a process has used, all its
// threads together. This process's own comes from getrusage, to the
// microsecond; others' from /proc/PID/stat, to the clock tick.
func ProcCPU(pid int) (time.Duration, error) {
	if pid == os.Getpid() {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			return 0, err
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStat(b)
}

// parseStat reads utime and stime (fields 14 and 15) from a /proc/PID/stat
// line. The command name (field 2) is in parentheses and may hold spaces
// and parentheses itself, so fields are counted from the last ')'.
func parseStat(b []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("no command name in /proc stat")
	}
	f := strings.Fields(string(b[i+1:])) // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("bad times in /proc stat")
	}
	return time.Duration(ut+st) * clockTick, nil
}

// PIDByPort returns the process listening on a TCP port (IPv4 or IPv6):
// the socket's inode from /proc/net/tcp{,6}, then the process holding a
// descriptor of that inode.
func PIDByPort(port int) (int, error) {
	inodes := map[string]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, ino := range listeners(bytes.NewReader(b), port) {
			inodes[ino] = true
		}
	}
	if len(inodes) == 0 {
		return 0, fmt.Errorf("nothing listens on TCP port %d", port)
	}
	// This process first: the common case of zan bench's embedded server.
	if pidHolds(os.Getpid(), inodes) {
		return os.Getpid(), nil
	}
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		if pidHolds(pid, inodes) {
			return pid, nil
		}
	}
	return 0, fmt.Errorf("no process found holding the listener on TCP port %d", port)
}

// listeners returns the inodes of the sockets listening on port in a
// /proc/net/tcp table.
func listeners(r io.Reader, port int) []string {
	var out []string
	want := fmt.Sprintf(":%04X", port)
	sc := bufio.NewScanner(r)
	sc.Scan() // header
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
		if len(f) < 10 || f[3] != "0A" || !strings.HasSuffix(f[1], want) {
			continue
		}
		out = append(out, f[9])
	}
	return out
}

func pidHolds(pid int, inodes map[string]bool) bool {
	dir := filepath.Join("/proc", strconv.Itoa(pid), "fd")
	fds, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, fd := range fds {
		l, err := os.Readlink(filepath.Join(dir, fd.Name()))
		if err != nil || !strings.HasPrefix(l, "socket:[") {
			continue
		}
		if inodes[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] {
			return true
		}
	}
	return false
}
