package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// startServer runs the real Main, embedded, on a random port in a temp dir.
func startServer(t testing.TB, configure ...func(*Config)) *Main {
	t.Helper()
	m := NewMain()
	m.Config.Addr = "127.0.0.1:0"
	m.Config.Data = t.TempDir()
	m.Config.Dev = true
	m.Config.DemoPosts = false // tests count the posts they make
	m.Config.AdminToken = "admin-secret"
	m.Config.BatchWait = 10 * time.Millisecond
	m.Config.LogLevel = "warn"
	// Every test's clients come from one address: the per-address budgets
	// have tests of their own (TestClientBudgets).
	m.Config.Edge.ClientLimits = false
	m.Stderr = io.Discard
	if path := os.Getenv("ZAN_TEST_SERVER_LOG"); path != "" { // a failing test's server side, kept for a look
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		m.Stderr = f
	}
	for _, f := range configure {
		f(&m.Config)
	}
	if err := m.Start(context.Background()); err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return m
}

// api is a tiny client for the tests; the Go client package is the real one.
type api struct {
	t     testing.TB
	base  string
	token string
}

func newAPI(t testing.TB, base string) *api { return &api{t: t, base: base} }

type resp struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r resp) json(t testing.TB) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(r.Body, &v); err != nil {
		t.Fatalf("response is not a JSON object: %v: %s", err, r.Body)
	}
	return v
}

func (r resp) errCode(t testing.TB) string {
	t.Helper()
	e, _ := r.json(t)["error"].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

func (a *api) do(method, path string, body any) resp {
	a.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, a.base+path, rd)
	if err != nil {
		a.t.Fatal(err)
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{Status: res.StatusCode, Header: res.Header, Body: b}
}

// expect fails unless the response has the status (and, for errors, a
// well-formed error body).
func (a *api) expect(status int, method, path string, body any) resp {
	a.t.Helper()
	r := a.do(method, path, body)
	if r.Status != status {
		a.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.Status, status, r.Body)
	}
	if status >= 400 && r.errCode(a.t) == "" {
		a.t.Fatalf("%s %s: error without a code: %s", method, path, r.Body)
	}
	return r
}

var phoneSeq atomic.Int64

// login signs a new user in through the dev-code flow.
func login(t testing.TB, base string) (*api, string) {
	t.Helper()
	a := newAPI(t, base)
	phone := fmt.Sprintf("139%08d", phoneSeq.Add(1))
	code := a.expect(200, "POST", "/api/v1/auth/code", map[string]string{"phone": phone}).json(t)["dev_code"].(string)
	v := a.expect(200, "POST", "/api/v1/auth/login", map[string]string{"phone": phone, "code": code}).json(t)
	a.token = v["token"].(string)
	return a, v["user"].(map[string]any)["id"].(string)
}

// eventually retries check until it passes or 10 s pass: listings are read
// from the store, which the persister fills a batch wait after the write.
func eventually(t testing.TB, what string, check func() error) {
	t.Helper()
	within(t, what, 10*time.Second, check)
}

// within retries check until it passes or d passes.
func within(t testing.TB, what string, d time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// expectSoon is expect for an answer another node gives once Redis's
// invalidation of its cached copy has arrived: a logout on one node is
// seen on the others within that flight (microseconds on a LAN), not
// ordered with the logout's own answer.
func (a *api) expectSoon(status int, method, path string, body any) resp {
	a.t.Helper()
	var r resp
	eventually(a.t, method+" "+path, func() error {
		if r = a.do(method, path, body); r.Status != status {
			return fmt.Errorf("status %d, want %d: %s", r.Status, status, r.Body)
		}
		return nil
	})
	return a.expect(status, method, path, body)
}
