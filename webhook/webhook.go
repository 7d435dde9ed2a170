// Package webhook hands like events to other systems: every event is POSTed
// to every endpoint that subscribed to its op, signed with the endpoint's
// secret, at least once.
//
// Endpoints come from the --webhook flag (static) and from the admin API
// (stored in the SQL store, which every node re-reads every few seconds).
// Each endpoint reads the like log with a durable reader of its own
// (zan.EventLog.Feed("webhook_<id>")), shared by the nodes of a scale-out,
// so an endpoint that is down holds back only its own position: neither
// likes, their persistence, the notifier nor the other endpoints wait for
// it. A batch is acknowledged only once every event in it was accepted
// (2xx) or dead-lettered; until then each event is retried with exponential
// back-off. An endpoint that has failed for Config.DeadAfter has its events
// dead-lettered (kept in the store, listed and replayed through the admin
// API) after one try each, so its reader catches up with the log instead
// of falling ever further behind. A restart, or a node that dies mid-batch,
// redelivers the batch: receivers drop repeats by Zan-Event-Id.
package webhook

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/metrics"
)

// Config tunes the deliverer; zero fields take the defaults.
type Config struct {
	BatchSize   int           // events fetched at once per partition (100)
	MaxWait     time.Duration // how long a fetch waits to fill (50 ms)
	Timeout     time.Duration // one POST's limit (5 s)
	MinBackoff  time.Duration // first wait after a failed POST (100 ms)
	MaxBackoff  time.Duration // the longest wait between tries (30 s)
	Concurrency int           // POSTs in flight per endpoint, over all partitions (1)
	// DeadAfter is how long an endpoint may fail without a success before
	// the event it fails on is dead-lettered (10 min); from then on each
	// event it fails is dead-lettered after one try, until it accepts one.
	DeadAfter time.Duration
	// Refresh is how often the registered endpoints are re-read (5 s).
	Refresh time.Duration
}

func (c *Config) defaults() {
	if c.BatchSize <= 0 {
		c.BatchSize = 100
	}
	if c.MaxWait <= 0 {
		c.MaxWait = 50 * time.Millisecond
	}
	if c.Timeout <= 0 {
		c.Timeout = 5 * time.Second
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = 100 * time.Millisecond
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 30 * time.Second
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 1
	}
	if c.DeadAfter <= 0 {
		c.DeadAfter = 10 * time.Minute
	}
	if c.Refresh <= 0 {
		c.Refresh = 5 * time.Second
	}
}

// Deliverer POSTs like events to endpoints.
type Deliverer struct {
	cfg    Config
	log    zan.EventLog
	store  zan.WebhookStore
	ids    *zan.IDGen
	static []Endpoint
	client *http.Client
	logger *slog.Logger

	mu      sync.Mutex
	ctx     context.Context // Run's; nil before Run
	running map[string]*runner
	syncMu  sync.Mutex // one sync at a time
}

// runner is one endpoint being delivered to on this node.
type runner struct {
	e      Endpoint
	slots  chan struct{} // the endpoint's POSTs in flight
	cancel context.CancelFunc
	done   chan struct{}
	// failingSince is when the endpoint's current run of failures began
	// (Unix nanoseconds); 0 while it accepts.
	failingSince atomic.Int64
}

// New returns a deliverer to the static endpoints and to those registered
// in store (nil: static ones only); ids names new registrations.
func New(cfg Config, log zan.EventLog, store zan.WebhookStore, ids *zan.IDGen, static []Endpoint, logger *slog.Logger) *Deliverer {
	cfg.defaults()
	if logger == nil {
		logger = slog.Default()
	}
	return &Deliverer{cfg: cfg, log: log, store: store, ids: ids, static: static, logger: logger,
		client: &http.Client{Timeout: cfg.Timeout}, running: map[string]*runner{}}
}

// FeedName is the name of an endpoint's reader of the like log.
func FeedName(e Endpoint) string { return "webhook_" + e.ID }

// Run delivers until ctx ends, picking up registrations and deletions
// every Config.Refresh.
func (d *Deliverer) Run(ctx context.Context) error {
	d.mu.Lock()
	d.ctx = ctx
	d.mu.Unlock()
	for ctx.Err() == nil {
		if err := d.Sync(ctx); err != nil && ctx.Err() == nil {
			d.logger.Warn("webhook: reading the registered endpoints", "err", err)
		}
		zan.Sleep(ctx, d.cfg.Refresh)
	}
	d.mu.Lock()
	rs := d.running
	d.running = map[string]*runner{}
	d.mu.Unlock()
	for _, r := range rs {
		r.cancel()
		<-r.done
	}
	return nil
}

// Sync starts delivering to the endpoints registered since the last look
// and stops delivering to those deleted; it does nothing before Run.
func (d *Deliverer) Sync(ctx context.Context) error {
	d.syncMu.Lock()
	defer d.syncMu.Unlock()
	d.mu.Lock()
	runCtx := d.ctx
	d.mu.Unlock()
	if runCtx == nil || runCtx.Err() != nil {
		return nil
	}
	want := map[string]Endpoint{}
	for _, e := range d.static {
		want[e.ID] = e
	}
	if d.store != nil {
		ws, err := d.store.Webhooks(ctx)
		if err != nil {
			return err
		}
		for _, w := range ws {
			e := registered(w)
			want[e.ID] = e
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for id, r := range d.running {
		if _, ok := want[id]; !ok {
			delete(d.running, id)
			r.cancel()
			go d.retire(r)
		}
	}
	for id, e := range want {
		if d.running[id] != nil {
			continue
		}
		rctx, cancel := context.WithCancel(runCtx)
		r := &runner{e: e, slots: make(chan struct{}, d.cfg.Concurrency), cancel: cancel, done: make(chan struct{})}
		d.running[id] = r
		go func() {
			defer close(r.done)
			d.runEndpoint(rctx, r)
		}()
	}
	return nil
}

// retire drops the reader of a deleted endpoint once it stopped here.
// Every node drops it (no harm twice); a node still delivering until its
// next refresh only sees its fetches fail meanwhile.
func (d *Deliverer) retire(r *runner) {
	<-r.done
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.log.DropFeed(ctx, FeedName(r.e)); err != nil {
		d.logger.Warn("webhook: dropping the reader of a deleted endpoint", "endpoint", r.e.ID, "err", err)
	}
}

// runEndpoint reads the endpoint's own reader of the like log: one
// endpoint that is away holds back nobody else. Its partitions share its
// POST slots.
func (d *Deliverer) runEndpoint(ctx context.Context, r *runner) {
	zan.FeedReader{Log: d.log, Name: FeedName(r.e), Batch: d.cfg.BatchSize, Wait: d.cfg.MaxWait,
		Backoff: d.cfg.MinBackoff, MaxBackoff: d.cfg.MaxBackoff, Logger: d.logger.With("endpoint", r.e.URL),
		Apply: func(ctx context.Context, _ int, events []zan.Event) error {
			for _, ev := range events {
				// A kept event records an answer, not a change: nothing
				// happened. Ops the endpoint did not subscribe to are
				// acknowledged with the batch, unsent.
				if ev.Kept || !r.e.Wants(ev.Op) {
					continue
				}
				if !d.deliver(ctx, r, ev) {
					return ctx.Err() // handed back: another node, or the next start, delivers it
				}
			}
			return nil
		},
	}.Run(ctx)
}

// deliver POSTs ev to the endpoint until it answers 2xx, or dead-letters
// it once the endpoint has failed for DeadAfter; false when ctx ended
// first.
func (d *Deliverer) deliver(ctx context.Context, r *runner, ev zan.Event) bool {
	e := r.e
	body := ev.AppendJSON(nil)
	backoff := d.cfg.MinBackoff
	for try := 1; ; try++ {
		err := d.postSlot(ctx, r, ev, body)
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		since := r.failingSince.Load()
		if since == 0 {
			now := time.Now().UnixNano()
			r.failingSince.CompareAndSwap(0, now)
			since = r.failingSince.Load()
		}
		if time.Since(time.Unix(0, since)) >= d.cfg.DeadAfter {
			if derr := d.deadLetter(ctx, e, ev, err); derr == nil {
				return true
			} else if ctx.Err() != nil {
				return false
			} else {
				// Without the store the event stays in the log: retry.
				d.logger.Warn("webhook: dead-lettering failed, retrying the event", "endpoint", e.URL, "event", ev.ID, "err", derr)
			}
		}
		level := slog.LevelDebug
		if try == 1 || backoff == d.cfg.MaxBackoff {
			level = slog.LevelWarn
		}
		d.logger.Log(ctx, level, "webhook: delivery failed, retrying", "endpoint", e.URL, "event", ev.ID, "try", try, "retry_in", backoff, "err", err)
		zan.Sleep(ctx, backoff)
		backoff = min(backoff*2, d.cfg.MaxBackoff)
	}
}

// postSlot POSTs ev within the endpoint's concurrency bound and keeps its
// failure state and metrics.
func (d *Deliverer) postSlot(ctx context.Context, r *runner, ev zan.Event, body []byte) error {
	select {
	case r.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	err := d.post(ctx, r.e, ev.ID, body)
	<-r.slots
	if err != nil {
		metrics.WebhookDeliveries.WithLabelValues(r.e.ID, "failed").Inc()
		return err
	}
	r.failingSince.Store(0)
	metrics.WebhookDeliveries.WithLabelValues(r.e.ID, "ok").Inc()
	metrics.WebhookLag.WithLabelValues(r.e.ID).Observe(time.Since(time.UnixMicro(ev.At)).Seconds())
	return nil
}

func (d *Deliverer) post(ctx context.Context, e Endpoint, id string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	ts := time.Now().Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "zan-webhook")
	req.Header.Set("Zan-Event-Id", id)
	req.Header.Set("Zan-Timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("Zan-Signature", Sign(e.Secret, ts, body))
	resp, err := d.client.Do(req)
	if err != nil {
		return err
	}
	// Drain a little so the connection can be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("answered %s", resp.Status)
	}
	return nil
}
