// Package webhook hands like events to other systems: every event is POSTed
// to every configured endpoint, signed with the endpoint's secret, at least
// once.
//
// Each endpoint reads the like log with a durable reader of its own
// (zan.EventLog.Feed("webhook_<id>")), shared by the nodes of a scale-out,
// so an endpoint that is down holds back only its own position: neither
// likes, their persistence, the notifier nor the other endpoints wait for
// it. A batch is acknowledged only once the endpoint answered 2xx for every
// event in it; until then each event is retried with exponential back-off.
// A restart, or a node that dies mid-batch, redelivers the batch: receivers
// drop repeats by Zan-Event-Id.
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
}

// Deliverer POSTs like events to endpoints.
type Deliverer struct {
	cfg       Config
	log       zan.EventLog
	endpoints []Endpoint
	client    *http.Client
	logger    *slog.Logger
}

// New returns a deliverer to endpoints.
func New(cfg Config, log zan.EventLog, endpoints []Endpoint, logger *slog.Logger) *Deliverer {
	cfg.defaults()
	if logger == nil {
		logger = slog.Default()
	}
	return &Deliverer{cfg: cfg, log: log, endpoints: endpoints, logger: logger,
		client: &http.Client{Timeout: cfg.Timeout}}
}

// FeedName is the name of an endpoint's reader of the like log.
func FeedName(e Endpoint) string { return "webhook_" + e.ID }

// Run delivers until ctx ends.
func (d *Deliverer) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, e := range d.endpoints {
		wg.Go(func() { d.runEndpoint(ctx, e) })
	}
	wg.Wait()
	return nil
}

// runEndpoint reads e's own reader of the like log: one endpoint that is
// away holds back nobody else. Its partitions share e's POST slots.
func (d *Deliverer) runEndpoint(ctx context.Context, e Endpoint) {
	slots := make(chan struct{}, d.cfg.Concurrency)
	zan.FeedReader{Log: d.log, Name: FeedName(e), Batch: d.cfg.BatchSize, Wait: d.cfg.MaxWait,
		Backoff: d.cfg.MinBackoff, MaxBackoff: d.cfg.MaxBackoff, Logger: d.logger.With("endpoint", e.URL),
		Apply: func(ctx context.Context, _ int, events []zan.Event) error {
			for _, ev := range events {
				// A kept event records an answer, not a change: nothing happened.
				if !ev.Kept && !d.deliver(ctx, e, ev, slots) {
					return ctx.Err() // handed back: another node, or the next start, delivers it
				}
			}
			return nil
		},
	}.Run(ctx)
}

// deliver POSTs ev to e until e answers 2xx; false when ctx ended first.
func (d *Deliverer) deliver(ctx context.Context, e Endpoint, ev zan.Event, slots chan struct{}) bool {
	body := ev.AppendJSON(nil)
	backoff := d.cfg.MinBackoff
	for try := 1; ; try++ {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return false
		}
		err := d.post(ctx, e, ev.ID, body)
		<-slots
		if err == nil {
			metrics.WebhookDeliveries.WithLabelValues(e.ID, "ok").Inc()
			metrics.WebhookLag.WithLabelValues(e.ID).Observe(time.Since(time.UnixMicro(ev.At)).Seconds())
			return true
		}
		metrics.WebhookDeliveries.WithLabelValues(e.ID, "failed").Inc()
		if ctx.Err() != nil {
			return false
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
