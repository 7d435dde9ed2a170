// Package redistest starts private redis-server processes for tests: a
// single server on a free loopback port, or a Redis Cluster of n masters,
// killed when the test ends, so fault tests never touch the shared Redis.
package redistest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Bin returns the path of redis-server, or skips the test.
func Bin(t testing.TB) string {
	p, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server not on PATH: cannot start a private Redis")
	}
	return p
}

// freePort returns a loopback port that is free; with bus, port+10000 (the
// cluster bus) is free too.
func FreePort(t testing.TB, bus bool) int {
	t.Helper()
	for range 100 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if !bus {
			return p
		}
		if p+10000 > 65535 {
			continue
		}
		if ln2, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p+10000)); err == nil {
			ln2.Close()
			return p
		}
	}
	t.Fatal("no free port")
	return 0
}

// startServer starts redis-server on port, without persistence, waits until
// it answers, and kills it at cleanup.
func Start(t testing.TB, bin, dir string, port int, extra ...string) *exec.Cmd {
	t.Helper()
	args := append([]string{
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
		"--save", "", "--appendonly", "no",
	}, extra...)
	cmd := exec.Command(bin, args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	addr := "127.0.0.1:" + strconv.Itoa(port)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if reply, err := Command(addr, "PING"); err == nil && reply == "+PONG" {
			return cmd
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server on %s did not start", addr)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// command sends one inline command and returns the first line of the reply
// (enough for PING and for waiting on CLUSTER INFO).
func Command(addr, cmd string) (string, error) {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte(cmd + "\r\n")); err != nil {
		return "", err
	}
	r := bufio.NewReader(conn)
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if strings.HasPrefix(line, "$") { // a bulk string: return its body
		n, _ := strconv.Atoi(line[1:])
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	}
	return line, nil
}

// startCluster starts n masters and joins them into a cluster. Slots are
// assigned with CLUSTER ADDSLOTSRANGE and the nodes introduced with CLUSTER
// MEET directly, which is faster than redis-cli --cluster create's polling.
func Cluster(t testing.TB, bin string, n int) []string {
	t.Helper()
	var addrs []string
	for i := range n {
		dir := filepath.Join(t.TempDir(), strconv.Itoa(i))
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		port := FreePort(t, true)
		Start(t, bin, dir, port, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "2000")
		addrs = append(addrs, "127.0.0.1:"+strconv.Itoa(port))
	}
	for i, a := range addrs {
		lo, hi := i*16384/n, (i+1)*16384/n-1
		if r, err := Command(a, fmt.Sprintf("CLUSTER ADDSLOTSRANGE %d %d", lo, hi)); err != nil || r != "+OK" {
			t.Fatalf("ADDSLOTSRANGE on %s: %q %v", a, r, err)
		}
		if i > 0 {
			host, port, _ := net.SplitHostPort(addrs[0])
			if r, err := Command(a, "CLUSTER MEET "+host+" "+port); err != nil || r != "+OK" {
				t.Fatalf("MEET on %s: %q %v", a, r, err)
			}
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, a := range addrs {
		for {
			info, err := Command(a, "CLUSTER INFO")
			if err == nil && strings.Contains(info, "cluster_state:ok") && strings.Contains(info, "cluster_known_nodes:"+strconv.Itoa(n)) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("cluster not ok on %s: %q %v", a, info, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return addrs
}
