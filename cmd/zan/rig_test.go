package main

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/zanlabs/zan/internal/redistest"
	"github.com/zanlabs/zan/internal/testenv"
)

// A rig is a scale-out deployment of the test's own: zan nodes as child
// processes over a private Redis and NATS (started by the test, so they can
// be killed, stopped and restarted) and a database of its own on the
// machine's MariaDB (ZAN_TEST_MYSQL).
type rig struct {
	t     *testing.T
	name  string
	dsn   string // go-sql-driver form
	db    *sql.DB
	redis *redisProc
	nats  []*natsProc
	nodes []*child
	extra []string // flags for every node
}

// newRig creates the database; the caller starts Redis, NATS and nodes.
func newRig(t *testing.T) *rig {
	t.Helper()
	if testing.Short() {
		t.Skip("starts private servers and zan processes")
	}
	b := make([]byte, 4)
	rand.Read(b)
	// The name keeps the nodes' streams apart from other runs'.
	r := &rig{t: t, name: "f" + hex.EncodeToString(b), dsn: testenv.FreshMySQL(t)}
	var err error
	if r.db, err = sql.Open("mysql", r.dsn); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.db.Close() })
	return r
}

// redisProc is a private redis-server that can be killed and restarted on
// its directory (and so from its snapshot or append-only file).
type redisProc struct {
	t    *testing.T
	bin  string
	dir  string
	port int
	args []string
	cmd  *exec.Cmd
}

func (r *rig) startRedis(args ...string) *redisProc {
	p := &redisProc{t: r.t, bin: redistest.Bin(r.t), dir: r.t.TempDir(), port: redistest.FreePort(r.t, false), args: args}
	p.start()
	r.redis = p
	return p
}

func (p *redisProc) addr() string { return "127.0.0.1:" + strconv.Itoa(p.port) }
func (p *redisProc) start()       { p.cmd = redistest.Start(p.t, p.bin, p.dir, p.port, p.args...) }

func (p *redisProc) kill() {
	p.cmd.Process.Kill()
	p.cmd.Wait()
}

func (p *redisProc) signal(s syscall.Signal) {
	if err := p.cmd.Process.Signal(s); err != nil {
		p.t.Fatal(err)
	}
}

func (p *redisProc) do(cmd string) string {
	reply, err := redistest.Command(p.addr(), cmd)
	if err != nil {
		p.t.Fatalf("redis %s: %v", cmd, err)
	}
	return reply
}

// natsProc is a private nats-server with JetStream storing under dir.
type natsProc struct {
	t    *testing.T
	bin  string
	dir  string
	port int
	args []string
	cmd  *exec.Cmd
}

func (r *rig) startNATS(args ...string) *natsProc {
	p := &natsProc{t: r.t, bin: natsServer(r.t), dir: r.t.TempDir(), port: redistest.FreePort(r.t, false), args: args}
	p.start()
	r.nats = append(r.nats, p)
	return p
}

func (p *natsProc) url() string { return "nats://127.0.0.1:" + strconv.Itoa(p.port) }

func (p *natsProc) start() {
	p.t.Helper()
	args := append([]string{"-a", "127.0.0.1", "-p", strconv.Itoa(p.port), "-js", "-sd", p.dir}, p.args...)
	p.cmd = exec.Command(p.bin, args...)
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	cmd := p.cmd
	p.t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for deadline := time.Now().Add(10 * time.Second); ; {
		if c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(p.port)); err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("nats-server on %d did not start", p.port)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *natsProc) kill() {
	p.cmd.Process.Kill()
	p.cmd.Wait()
}

// natsURLs are the rig's NATS servers, comma-separated.
func (r *rig) natsURLs() string {
	var us []string
	for _, n := range r.nats {
		us = append(us, n.url())
	}
	return strings.Join(us, ",")
}

// startNode starts a zan node on the rig; redisAddr overrides the Redis
// address (a proxy in front of it).
func (r *rig) startNode(redisAddr string) *child {
	r.t.Helper()
	if redisAddr == "" {
		redisAddr = r.redis.addr()
	}
	flags := append([]string{"--redis", "redis://" + redisAddr, "--nats", r.natsURLs(), "--db", "mysql://" + r.dsn,
		"--name", r.name, "--node-id", strconv.Itoa(len(r.nodes) + 1), "--admin-token", "admin-secret",
		"--batch-wait", "10ms", "--publish-timeout", "1s", "--reconcile-every", "1s",
		// A Redis rolled back logs everyone out (sessions carry the epoch):
		// the ledger's users sign in again at once.
		"--code-gap", "1s"}, r.extra...)
	n := startChild(r.t, r.t.TempDir(), freeAddr(r.t), flags...)
	r.nodes = append(r.nodes, n)
	return n
}

func (r *rig) bases() []string {
	var bs []string
	for _, n := range r.nodes {
		bs = append(bs, "http://"+n.addr)
	}
	return bs
}

// proxy forwards TCP connections to a target that can be switched: a
// failover behind one address (a virtual IP, a Sentinel-aware client).
// Switching cuts every connection, as a failover does.
type proxy struct {
	ln     net.Listener
	target atomic.Pointer[string]
	mu     sync.Mutex
	conns  map[net.Conn]bool
}

func newProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, conns: map[net.Conn]bool{}}
	p.target.Store(&target)
	t.Cleanup(func() { ln.Close(); p.cut() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) serve(c net.Conn) {
	up, err := net.DialTimeout("tcp", *p.target.Load(), time.Second)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns[c], p.conns[up] = true, true
	p.mu.Unlock()
	go func() { io.Copy(up, c); up.Close() }()
	io.Copy(c, up)
	c.Close()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, up)
	p.mu.Unlock()
}

// cut closes every connection.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
}

// switchTo sends new connections to target and cuts the old ones.
func (p *proxy) switchTo(target string) {
	p.target.Store(&target)
	p.cut()
}

// faultCase is one fault under load, checked with the ledger.
type faultCase struct {
	users, targets, workers int
	before, after           time.Duration   // load before and after the fault
	fault                   func(l *ledger) // runs while the load goes on
	converge                time.Duration
}

// run signs users in, runs the load through every node of r, injects the
// fault, goes on, stops and checks: 0 lost, 0 phantom, counts equal to
// likers, within tc.converge after the load stopped.
func (r *rig) run(tc faultCase) *ledger {
	r.t.Helper()
	bases := r.bases()
	l := newLedger(r.t, bases[0], tc.users, tc.targets)
	l.start(tc.workers, 0.8, "before", bases...)
	time.Sleep(tc.before)
	tc.fault(l)
	l.setPhase("after")
	time.Sleep(tc.after)
	l.stop()
	l.report(r.t)
	if ok, _ := l.counts("after"); ok == 0 {
		r.t.Errorf("no like answered 200 after the fault: the service did not come back")
	}
	live := *l.nodes.Load()
	l.converge(r.t, live[0], r.db, "zan_", tc.converge)
	noDeadLetters(r.t, live[0], "admin-secret")
	return l
}

func itoa(n int) string { return fmt.Sprint(n) }
