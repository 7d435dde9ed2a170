// Package loadgen is zan's load generator (zan bench): it logs in its own
// users through the dev-code flow, drives a running server over HTTP with
// the scenarios a like platform lives on, and measures throughput and
// latency (HDR histograms), beside a bare net/http handler on the same
// machine with the same settings.
package loadgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/zanlabs/zan/client"
)

// Config says what to run.
type Config struct {
	URL        string        // the server, e.g. http://127.0.0.1:8080
	AdminToken string        // for the flash sale's shop and voucher
	Conns      int           // concurrent connections (64)
	Duration   time.Duration // per scenario (5 s), unless Requests is set
	Requests   int64         // per scenario; 0: run for Duration
	Targets    int           // like targets (10,000)
	Zipf       float64       // exponent of the hot-key storm (1.1)
	Users      int           // users logged in (200)
	Stock      int64         // units of the flash sale's voucher (100)
	Batch      int           // targets per batch read (50; at most 200)
	Seed       uint64
	Scenarios  []string // default: all, in the order of Scenarios
	Baseline   bool     // also measure a bare net/http handler
	// Watch names further processes whose CPU per request to measure, by
	// the port they listen on (Redis, NATS, the database).
	Watch []Watch
	// Progress, when set, is called every tick with the scenario running,
	// the fraction done and the requests so far.
	Progress func(scenario string, done float64, requests int64)
}

// Scenarios are the scenario names, in the order they run.
var Scenarios = []string{"seq-writes", "writes", "counts", "has-liked", "batch", "zipf", "churn", "flash"}

// ExtraScenarios run only when named. blog-likes: every user writes a blog,
// then likes and unlikes (50/50) land on those blogs, so that each one
// reaches an author's inbox (the notifier's cost and lag).
var ExtraScenarios = []string{"blog-likes"}

// Result is one scenario's measurement.
type Result struct {
	Scenario string         `json:"scenario"`
	Conns    int            `json:"conns"`
	Requests int64          `json:"requests"`
	Seconds  float64        `json:"seconds"`
	RPS      float64        `json:"rps"`
	P50      float64        `json:"p50_ms"`
	P90      float64        `json:"p90_ms"`
	P99      float64        `json:"p99_ms"`
	P999     float64        `json:"p999_ms"`
	Max      float64        `json:"max_ms"`
	Errors   map[string]int `json:"errors,omitempty"` // by status ("transport" for no answer)
	// Timeline is requests completed per Tick.
	Timeline []int64 `json:"timeline"`
	// Curve is the latency percentile curve: (percentile, ms) pairs.
	Curve    [][2]float64 `json:"curve"`
	Check    string       `json:"check,omitempty"` // the scenario's own verdict
	Baseline *Result      `json:"baseline,omitempty"`
	Ratio    float64      `json:"ratio,omitempty"` // RPS / Baseline.RPS
	// Cost is the CPU per request by process and zan's allocations.
	Cost *Cost `json:"cost,omitempty"`
}

// Tick is the timeline's resolution.
const Tick = 100 * time.Millisecond

func (c *Config) defaults() {
	if c.Conns <= 0 {
		c.Conns = 64
	}
	if c.Duration <= 0 && c.Requests <= 0 {
		c.Duration = 5 * time.Second
	}
	if c.Targets <= 0 {
		c.Targets = 10000
	}
	if c.Zipf <= 1 {
		c.Zipf = 1.1
	}
	if c.Users <= 0 {
		c.Users = 200
	}
	if c.Stock <= 0 {
		c.Stock = 100
	}
	if c.Batch <= 0 || c.Batch > 200 {
		c.Batch = 50
	}
	if len(c.Scenarios) == 0 {
		c.Scenarios = Scenarios
	}
	c.URL = strings.TrimRight(c.URL, "/")
}

// Runner holds the logged-in users and the HTTP client.
type Runner struct {
	cfg    Config
	client *http.Client
	tokens []string
	base   int64 // target ids of this run start above it, apart from earlier runs
	bases  map[int]*Result
	probe  *probe // nil: no cost measured
}

// New checks cfg and logs in its users.
func New(ctx context.Context, cfg Config) (*Runner, error) {
	cfg.defaults()
	for _, s := range cfg.Scenarios {
		if !contains(Scenarios, s) && !contains(ExtraScenarios, s) {
			return nil, fmt.Errorf("unknown scenario %q (have %s)", s, strings.Join(append(Scenarios, ExtraScenarios...), ", "))
		}
	}
	r := &Runner{cfg: cfg, bases: map[int]*Result{},
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
			MaxIdleConns: 4 * cfg.Conns, MaxIdleConnsPerHost: 4 * cfg.Conns, IdleConnTimeout: time.Minute,
			DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		}}}
	r.base = time.Now().UnixMilli() % 1_000_000 * 1_000_000
	r.probe = newProbe(cfg.URL, cfg.Watch, r.client)
	if err := r.login(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// login signs in cfg.Users users through the dev-code flow (the server must
// run with --dev), a few at a time.
func (r *Runner) login(ctx context.Context) error {
	r.tokens = make([]string, r.cfg.Users)
	block := time.Now().UnixNano() % 9000000
	var wg sync.WaitGroup
	errs := make(chan error, r.cfg.Users)
	sem := make(chan struct{}, 16)
	for i := range r.tokens {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			phone := fmt.Sprintf("+88%07d%05d", block, i)
			c := client.New(r.cfg.URL, client.WithHTTPClient(r.client))
			code, err := c.SendCode(ctx, phone)
			if err != nil {
				errs <- fmt.Errorf("login code: %w", err)
				return
			}
			if code == "" {
				errs <- errors.New("the server gave no dev_code: run it with --dev")
				return
			}
			if _, err := c.Login(ctx, phone, code); err != nil {
				errs <- fmt.Errorf("login: %w", err)
				return
			}
			r.tokens[i] = c.Token()
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// api returns a client of the server for the calls outside the
// measurement (logins, set-up, checks); the measured loops send bare
// requests, so that what is timed is the server, not a client's retries.
func (r *Runner) api(token string) *client.Client {
	return client.New(r.cfg.URL, client.WithHTTPClient(r.client), client.WithToken(token))
}

// worker is one connection's loop state.
type worker struct {
	r    *Runner
	rnd  *rand.Rand
	zipf *rand.Zipf
	id   int
	buf  []byte
}

func (w *worker) token() string { return w.r.tokens[w.rnd.IntN(len(w.r.tokens))] }

// target returns a like target path of this run among n.
func (w *worker) target(n int) string {
	return "comment/" + strconv.FormatInt(w.r.base+1+w.rnd.Int64N(int64(n)), 10)
}

// do sends one request and reads the answer; status 0 means no answer.
func (w *worker) do(ctx context.Context, method, url, token string) (int, []byte) {
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return 0, nil
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := w.r.client.Do(req)
	if err != nil {
		return 0, nil
	}
	w.buf = w.buf[:0]
	b := bytes.NewBuffer(w.buf)
	_, _ = b.ReadFrom(res.Body)
	res.Body.Close()
	w.buf = b.Bytes()
	return res.StatusCode, w.buf
}

// op is one request of a scenario; it returns the status.
type op func(ctx context.Context, w *worker) int

// measure runs op on conns workers until the duration passes or the
// requests are made. The end of the duration stops new requests; those in
// flight finish and count. (Cutting them used to leave a short run on a
// loaded machine with no request done at all: zero throughput, a ratio of
// 0 to the baseline.)
func (r *Runner) measure(ctx context.Context, name string, conns int, fn op) *Result {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := make(chan struct{})
	if r.cfg.Duration > 0 && r.cfg.Requests <= 0 {
		t := time.AfterFunc(r.cfg.Duration, func() { close(stop) })
		defer t.Stop()
	}
	stopped := func() bool {
		select {
		case <-stop:
			return true
		default:
			return false
		}
	}
	var (
		issued, done atomic.Int64
		mu           sync.Mutex
		hist         = hdrhistogram.New(1, int64(60*time.Second/time.Microsecond), 3)
		errs         = map[string]int{}
		wg           sync.WaitGroup
	)
	var before reading
	if r.probe != nil {
		before = r.probe.read(ctx)
	}
	start := time.Now()
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := &worker{r: r, id: i, rnd: rand.New(rand.NewPCG(r.cfg.Seed, uint64(i)+1))}
			w.zipf = rand.NewZipf(w.rnd, r.cfg.Zipf, 1, uint64(r.cfg.Targets-1))
			h := hdrhistogram.New(1, int64(60*time.Second/time.Microsecond), 3)
			local := map[string]int{}
			// Every connection makes at least one request: on a loaded
			// machine a worker can start after a short run's timer fired,
			// and when all did the run measured nothing (the TestBench
			// flake "Ratio:0" that outlived the fix for requests in flight).
			for first := true; ctx.Err() == nil && (first || !stopped()); first = false {
				if r.cfg.Requests > 0 && issued.Add(1) > r.cfg.Requests {
					break
				}
				t0 := time.Now()
				st := fn(ctx, w)
				if ctx.Err() != nil && st == 0 {
					break // the run was cancelled: not an error
				}
				_ = h.RecordValue(max(1, time.Since(t0).Microseconds()))
				done.Add(1)
				if st/100 != 2 {
					k := "transport"
					if st != 0 {
						k = strconv.Itoa(st)
					}
					local[k]++
				}
			}
			mu.Lock()
			hist.Merge(h)
			for k, v := range local {
				errs[k] += v
			}
			mu.Unlock()
		}()
	}
	var timeline []int64
	tick := time.NewTicker(Tick)
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	last := int64(0)
loop:
	for {
		select {
		case <-finished:
			break loop
		case <-tick.C:
			n := done.Load()
			timeline = append(timeline, n-last)
			last = n
			if r.cfg.Progress != nil {
				frac := 0.0
				if r.cfg.Requests > 0 {
					frac = float64(n) / float64(r.cfg.Requests)
				} else {
					frac = float64(time.Since(start)) / float64(r.cfg.Duration)
				}
				r.cfg.Progress(name, min(frac, 1), n)
			}
		}
	}
	tick.Stop()
	elapsed := time.Since(start)
	if len(timeline) == 0 {
		// Done before the first tick (this goroutine ran late): one
		// partial tick rather than no timeline at all.
		timeline = append(timeline, done.Load())
	}
	var cost *Cost
	if r.probe != nil {
		cost = r.probe.cost(before, r.probe.read(ctx), done.Load())
	}
	// Each scenario starts on fresh connections: when runs ended by
	// cancelling the requests in flight, the transport handed the closing
	// connections of some of them to the next scenario, whose first
	// requests failed with EOF or a reset (up to 11 "transport" errors
	// within 20 ms of a scenario's start).
	r.client.CloseIdleConnections()
	// What finished after the last tick is in the totals, not the timeline:
	// a partial tick would plot as a drop at the end.
	ms := func(us int64) float64 { return float64(us) / 1000 }
	res := &Result{
		Scenario: name, Conns: conns, Requests: done.Load(), Seconds: elapsed.Seconds(),
		RPS: float64(done.Load()) / elapsed.Seconds(),
		P50: ms(hist.ValueAtQuantile(50)), P90: ms(hist.ValueAtQuantile(90)), P99: ms(hist.ValueAtQuantile(99)),
		P999: ms(hist.ValueAtQuantile(99.9)), Max: ms(hist.Max()), Timeline: timeline, Cost: cost,
	}
	if len(errs) > 0 {
		res.Errors = errs
	}
	for _, q := range []float64{0, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 100} {
		res.Curve = append(res.Curve, [2]float64{q, ms(hist.ValueAtQuantile(q))})
	}
	return res
}

// Run runs the scenarios in order and returns their results.
func (r *Runner) Run(ctx context.Context) ([]*Result, error) {
	var out []*Result
	for _, name := range r.cfg.Scenarios {
		res, err := r.scenario(ctx, name)
		if err != nil {
			return out, fmt.Errorf("%s: %w", name, err)
		}
		if r.cfg.Baseline {
			b, err := r.baseline(ctx, res.Conns)
			if err != nil {
				return out, fmt.Errorf("baseline: %w", err)
			}
			res.Baseline = b
			if b.RPS > 0 {
				res.Ratio = res.RPS / b.RPS
			}
		}
		out = append(out, res)
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
	}
	return out, nil
}
