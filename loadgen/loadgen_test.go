package loadgen

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// A run shorter than one request still measures the requests it started:
// they finish and count (on a loaded machine a 300 ms run used to cut
// every request and report zero throughput).
func TestRunShorterThanARequest(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(150 * time.Millisecond)
	}))
	defer srv.Close()
	r := &Runner{cfg: Config{Duration: 10 * time.Millisecond, Seed: 1, Targets: 10, Zipf: 1.1}, client: srv.Client()}
	res := r.measure(context.Background(), "slow", 4, func(ctx context.Context, w *worker) int {
		st, _ := w.do(ctx, "GET", srv.URL, "")
		return st
	})
	if res.Requests != 4 || res.RPS <= 0 || len(res.Errors) > 0 {
		t.Fatalf("4 connections, each request 150 ms, a 10 ms run: %+v", res)
	}
}

// A run whose timer fires before its connections start still makes a
// request on each, and has a timeline: a worker starting late on a loaded
// machine used to see the run over and make none.
func TestRunOverBeforeWorkersStart(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	r := &Runner{cfg: Config{Duration: time.Nanosecond, Seed: 1, Targets: 10, Zipf: 1.1}, client: srv.Client()}
	res := r.measure(context.Background(), "late", 4, func(ctx context.Context, w *worker) int {
		st, _ := w.do(ctx, "GET", srv.URL, "")
		return st
	})
	if res.Requests < 4 || res.RPS <= 0 || len(res.Timeline) == 0 || len(res.Errors) > 0 {
		t.Fatalf("4 connections, a 1 ns run: %+v", res)
	}
}
