// Package mariadbtest runs a private mariadbd for fault tests: on a
// temporary data directory and a free loopback port, so that it may be
// killed and restarted, unlike the machine's shared server.
package mariadbtest

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql" // the driver the harness pings with
)

// StartTimeout bounds how long a start (or a restart) may take.
const StartTimeout = 20 * time.Second

// Database is the database Start creates, named by DSN.
const Database = "zan"

// Server is a private mariadbd. Its zero value is not usable: see Start.
type Server struct {
	bin     string
	dir     string
	port    int
	logPath string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

// Start initialises a data directory and runs a server on it, with an empty
// database Database. The server is killed when the test ends. It skips the
// test when mariadbd or mariadb-install-db is not installed, or when the
// server cannot be set up within StartTimeout.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := lookPath("mariadbd", "mysqld")
	install := lookPath("mariadb-install-db", "mysql_install_db")
	if bin == "" || install == "" {
		t.Skip("mariadbd and mariadb-install-db not installed (on PATH or in /usr/sbin, /usr/bin): cannot start a private MariaDB")
	}
	dir := t.TempDir()
	args := []string{"--no-defaults", "--datadir=" + filepath.Join(dir, "data"), "--skip-test-db",
		"--auth-root-authentication-method=normal"}
	if os.Geteuid() == 0 {
		args = append(args, "--user=root")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*StartTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, install, args...).CombinedOutput()
	if err != nil {
		t.Skipf("cannot initialise a private MariaDB with %s: %v\n%s", install, err, out)
	}
	s := &Server{bin: bin, dir: dir, port: FreePort(t), logPath: filepath.Join(dir, "server.log")}
	t.Cleanup(s.Kill)
	if err := s.start(); err != nil {
		t.Skipf("cannot start a private MariaDB: %v", err)
	}
	db, err := sql.Open("mysql", s.DSNFor(""))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+Database+" CHARACTER SET utf8mb4"); err != nil {
		t.Fatalf("private MariaDB: CREATE DATABASE: %v", err)
	}
	return s
}

func lookPath(names ...string) string {
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
		for _, d := range []string{"/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"} {
			p := filepath.Join(d, n)
			if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
				return p
			}
		}
	}
	return ""
}

// FreePort returns a loopback port nobody listens on.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// DSN is a go-sql-driver DSN of the database Database, as root.
func (s *Server) DSN() string { return s.DSNFor(Database) }

// DSNFor is a DSN of database db ("" for none), as root.
func (s *Server) DSNFor(db string) string {
	return fmt.Sprintf("root@tcp(%s)/%s?timeout=2s", s.Addr(), db)
}

// Log returns what the server wrote to its error log so far.
func (s *Server) Log() string {
	b, _ := os.ReadFile(s.logPath)
	return string(b)
}

// start runs the server and waits until it answers.
func (s *Server) start() error {
	args := []string{"--no-defaults", "--datadir=" + filepath.Join(s.dir, "data"),
		"--port=" + strconv.Itoa(s.port), "--bind-address=127.0.0.1",
		"--socket=" + filepath.Join(s.dir, "s.sock"), "--pid-file=" + filepath.Join(s.dir, "s.pid"),
		"--skip-grant-tables", "--skip-name-resolve", "--innodb-buffer-pool-size=32M",
		"--log-error=" + s.logPath}
	if os.Geteuid() == 0 {
		args = append(args, "--user=root")
	}
	cmd := exec.Command(s.bin, args...)
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()

	deadline := time.Now().Add(StartTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("mariadbd exited:\n%s", s.Log())
		default:
		}
		if db, err := sql.Open("mysql", s.DSNFor("")); err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			err = db.PingContext(ctx)
			cancel()
			db.Close()
			if err == nil {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.Kill()
	return fmt.Errorf("mariadbd not ready after %v:\n%s", StartTimeout, s.Log())
}

// Kill stops the server the hard way (SIGKILL), as a crash would, and waits
// for it to be gone. Killing a stopped server does nothing.
func (s *Server) Kill() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	select {
	case <-exited:
	default:
		cmd.Process.Kill()
		<-exited
	}
}

// Restart starts the server again on the same data directory and port
// (after Kill, InnoDB recovers what the crash left). It fails the test when
// the server does not answer within StartTimeout.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	if err := s.Restarted(); err != nil {
		t.Fatalf("restart of the private MariaDB: %v", err)
	}
}

// Restarted is Restart returning the error, for use off the test goroutine.
func (s *Server) Restarted() error {
	s.Kill()
	return s.start()
}
