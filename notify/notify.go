// Package notify tells users that their posts were liked: a notifier that
// reads the like log with a durable reader of its own and keeps the inboxes
// in the store, the inbox service the HTTP API calls, and a hub that wakes
// the unread-count streams of every node.
//
// Why a feed of the like stream (zan.EventLog.Feed) and not a consumer of
// its own stream: the like stream has limits retention and is trimmed only
// once every reader has acknowledged an event, so a second durable reader
// (named <log>-feed_notify-<partition>) sees every event without taking it
// from the persister, as a work-queue stream would. The reader's position
// is its own: a slow or failing notifier delays neither likes nor their
// persistence, and the nodes of a scale-out share it, so each event is
// handled by one node. The same code runs over the embedded and the
// external NATS.
package notify

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/maypok86/otter/v2"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/metrics"
)

// Config tunes the notifier; zero fields take the defaults.
type Config struct {
	Feed       string        // the reader's name ("notify")
	BatchSize  int           // events per batch at most (5,000)
	MaxWait    time.Duration // how long a batch waits to fill (50 ms)
	Pace       time.Duration // batches under load start at most this often (250 ms; see zan.FeedReader)
	Retries    int           // tries of a batch the store rejects before it is dropped (3)
	PruneEvery time.Duration // how often read items are pruned (1 h)
}

func (c *Config) defaults() {
	if c.Feed == "" {
		c.Feed = "notify"
	}
	// Under load the notifier takes a batch every Pace: a batch costs a few
	// statements plus one per item and per (blog, liker) it touches, so few
	// large batches cost less per like than many small ones, and SQLite's
	// one writer is left to the like persister in between. 250 ms keeps
	// the lag (at most Pace + MaxWait + the batch's own time) well within
	// the 1 s the README promises; a lone like still goes at once.
	if c.BatchSize <= 0 {
		c.BatchSize = 5000
	}
	if c.Pace <= 0 {
		c.Pace = 250 * time.Millisecond
	}
	if c.MaxWait <= 0 {
		c.MaxWait = 50 * time.Millisecond
	}
	if c.Retries <= 0 {
		c.Retries = 3
	}
	if c.PruneEvery <= 0 {
		c.PruneEvery = time.Hour
	}
}

// Store is what the notifier and the inbox need of the store.
type Store interface {
	zan.UserStore
	zan.BlogStore
	zan.NotificationStore
}

// TargetType is the like target whose author is notified.
const TargetType = "blog"

// Service is the notifier and the inbox.
type Service struct {
	cfg    Config
	log    zan.EventLog
	store  Store
	bus    zan.Notifier
	ids    *zan.IDGen
	logger *slog.Logger

	authors *otter.Cache[int64, int64] // blog → author (0: no such blog); authors never change
}

// New returns the service. bus carries inbox changes to every node's Hub.
func New(cfg Config, log zan.EventLog, store Store, bus zan.Notifier, ids *zan.IDGen, logger *slog.Logger) *Service {
	cfg.defaults()
	if logger == nil {
		logger = slog.Default()
	}
	return &Service{cfg: cfg, log: log, store: store, bus: bus, ids: ids, logger: logger, authors: otter.Must(&otter.Options[int64, int64]{MaximumSize: maxAuthors})}
}

// Run consumes the like log into the inboxes until ctx ends, one worker per
// partition, and prunes read items now and then.
func (s *Service) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Go(func() {
		zan.FeedReader{Log: s.log, Name: s.cfg.Feed, Batch: s.cfg.BatchSize, Wait: s.cfg.MaxWait, Pace: s.cfg.Pace,
			Backoff: 100 * time.Millisecond, MaxBackoff: 5 * time.Second, Logger: s.logger,
			Apply: func(ctx context.Context, _ int, events []zan.Event) error { return s.Apply(ctx, events) },
		}.Run(ctx)
	})
	wg.Go(func() { s.prune(ctx) })
	wg.Wait()
	return nil
}

// Apply takes like events into their authors' inboxes and wakes the
// streams of the inboxes that changed. Only a store that cannot be reached
// fails it (the batch comes back later); a batch the store keeps rejecting
// is logged and dropped: a lost notification is worth less than a stuck
// notifier.
func (s *Service) Apply(ctx context.Context, events []zan.Event) error {
	var notices []zan.LikeNotice
	oldest := int64(0)
	for _, ev := range events {
		if ev.Target.Type != TargetType || ev.Kept {
			continue
		}
		if oldest == 0 || ev.At < oldest {
			oldest = ev.At
		}
		author, err := s.author(ctx, ev.Target.ID)
		if err != nil {
			return err
		}
		if author == 0 || author == ev.User {
			continue
		}
		notices = append(notices, zan.LikeNotice{Event: ev, Recipient: author, NewID: s.ids.Next()})
	}
	metrics.NotifyApplied.Add(float64(len(events)))
	if len(notices) == 0 {
		return nil
	}
	var changed map[int64]int64
	var err error
	for try := 1; ; try++ {
		if changed, err = s.store.ApplyLikeNotices(ctx, notices); err == nil {
			break
		}
		if errors.Is(err, zan.ErrUnavailable) || ctx.Err() != nil {
			return err
		}
		if try >= s.cfg.Retries {
			s.logger.Error("notifier: dropping a batch the store rejects", "notices", len(notices), "err", err)
			return nil
		}
		zan.Sleep(ctx, time.Duration(try)*100*time.Millisecond)
	}
	metrics.NotifyLag.Observe(time.Since(time.UnixMicro(oldest)).Seconds())
	s.changed(ctx, slices.Collect(maps.Keys(changed)))
	return nil
}

// maxAuthors bounds the author cache.
const maxAuthors = 100_000

// author returns the author of blog id, 0 when there is no such blog.
func (s *Service) author(ctx context.Context, id int64) (int64, error) {
	if a, ok := s.authors.GetIfPresent(id); ok {
		return a, nil
	}
	b, err := s.store.Blog(ctx, id)
	var a int64
	switch {
	case err == nil:
		a = b.AuthorID
	case zan.IsNotFound(err):
		a = 0
	default:
		return 0, err
	}
	s.authors.Set(id, a)
	return a, nil
}

// topic carries the ids of users whose inbox changed, comma-separated, to
// every node.
const topic = "inbox"

// changed tells every node's hub that users' inboxes changed.
func (s *Service) changed(ctx context.Context, users []int64) {
	if s.bus == nil || len(users) == 0 {
		return
	}
	var b []byte
	for i, u := range users {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, u, 10)
		// One message stays well under NATS's 1 MB default payload.
		if len(b) > 64<<10 {
			s.send(ctx, b)
			b = b[:0]
		}
	}
	if len(b) > 0 {
		s.send(ctx, b)
	}
}

func (s *Service) send(ctx context.Context, b []byte) {
	if err := s.bus.Notify(ctx, topic, b); err != nil {
		// A stream rereads the count on the next change or reconnect.
		s.logger.Debug("notifier: broadcasting inbox changes", "err", err)
	}
}

func parseUsers(b []byte) []int64 {
	var out []int64
	for f := range strings.SplitSeq(string(b), ",") {
		if id, err := strconv.ParseInt(f, 10, 64); err == nil && id > 0 {
			out = append(out, id)
		}
	}
	return out
}

func (s *Service) prune(ctx context.Context) {
	t := time.NewTicker(s.cfg.PruneEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := s.store.PruneNotifications(ctx, time.Now().Add(-zan.NotificationsReadTTL))
		if err != nil {
			s.logger.Warn("notifier: pruning read items", "err", err)
		} else if n > 0 {
			s.logger.Info("notifier: pruned read items", "items", n)
		}
	}
}
