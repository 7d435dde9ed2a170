// Package live carries like counts to the subscribers of the live stream,
// on every node. Each node coalesces the count changes its own likes make
// and broadcasts them every FlushEvery to all nodes (core NATS, through
// zan.Notifier); each node's hub hands them to its local subscribers. A
// slow subscriber never holds anyone back: the hub only records the latest
// count per target in the subscriber's pending set (bounded by the targets
// it asked for) and signals it without blocking.
package live

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/metrics"
)

// ErrFull is returned by Subscribe when the node has MaxSubscribers.
var ErrFull = zan.Errorf(zan.EUnavailable, "too many live streams on this node; try again later")

// Update is a target's count after a change. At is the change's time in
// the hot state (µs): later changes have a greater At, so an update that
// arrives after a newer one is dropped.
type Update struct {
	Target zan.Target
	Count  int64
	At     int64
}

const topic = "counts"

// Hub is one node's side of the live counts.
type Hub struct {
	// FlushEvery is how often this node's changes are broadcast (50 ms).
	FlushEvery time.Duration
	// MaxSubscribers caps the live streams of this node (10,000).
	MaxSubscribers int

	notify zan.Notifier
	logger *slog.Logger

	outMu sync.Mutex
	out   map[zan.Target]Update // changes made here, not yet broadcast

	mu   sync.RWMutex
	subs map[zan.Target]map[*Sub]struct{}
	last map[zan.Target]int64 // At of the newest update seen per subscribed target
	n    int
}

// NewHub returns a hub broadcasting through notify.
func NewHub(notify zan.Notifier, logger *slog.Logger) *Hub {
	if logger == nil {
		logger = slog.Default()
	}
	return &Hub{FlushEvery: 50 * time.Millisecond, MaxSubscribers: 10000, notify: notify, logger: logger,
		out: map[zan.Target]Update{}, subs: map[zan.Target]map[*Sub]struct{}{}, last: map[zan.Target]int64{}}
}

// Changed records a count change made on this node (the like service calls
// it); it is broadcast with the next flush. A burst on one target costs one
// entry, whatever its size.
func (h *Hub) Changed(t zan.Target, count, at int64) {
	h.outMu.Lock()
	if u, ok := h.out[t]; !ok || at > u.At {
		h.out[t] = Update{t, count, at}
	}
	h.outMu.Unlock()
}

// Run subscribes to every node's broadcasts and flushes this node's
// changes until ctx ends.
func (h *Hub) Run(ctx context.Context) error {
	stop, err := h.notify.Subscribe(topic, h.receive)
	if err != nil {
		return err
	}
	defer stop()
	t := time.NewTicker(h.FlushEvery)
	defer t.Stop()
	var buf []byte
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		h.outMu.Lock()
		if len(h.out) == 0 {
			h.outMu.Unlock()
			continue
		}
		pending := h.out
		h.out = make(map[zan.Target]Update, len(pending))
		h.outMu.Unlock()
		buf = buf[:0]
		for _, u := range pending {
			buf = appendUpdate(buf, u)
			// One message stays well under NATS's 1 MB default payload.
			if len(buf) > 64<<10 {
				h.send(ctx, buf)
				buf = buf[:0]
			}
		}
		if len(buf) > 0 {
			h.send(ctx, buf)
		}
	}
}

func (h *Hub) send(ctx context.Context, b []byte) {
	if err := h.notify.Notify(ctx, topic, b); err != nil {
		// Counts are absolute: the next change repairs a lost broadcast.
		h.logger.Debug("live counts: broadcast", "err", err)
	}
}

// appendUpdate writes "type id count at\n".
func appendUpdate(b []byte, u Update) []byte {
	b = append(b, u.Target.Type...)
	b = append(b, ' ')
	b = strconv.AppendInt(b, u.Target.ID, 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, u.Count, 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, u.At, 10)
	return append(b, '\n')
}

func parseUpdate(line []byte) (Update, error) {
	f := bytes.Fields(line)
	if len(f) != 4 {
		return Update{}, errors.New("live: malformed update")
	}
	t, err := zan.ParseTarget(string(f[0]), string(f[1]))
	if err != nil {
		return Update{}, err
	}
	n, err1 := strconv.ParseInt(string(f[2]), 10, 64)
	at, err2 := strconv.ParseInt(string(f[3]), 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return Update{}, err
	}
	return Update{t, n, at}, nil
}

// receive hands a broadcast to the local subscribers of its targets.
func (h *Hub) receive(b []byte) {
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		u, err := parseUpdate(line)
		if err != nil {
			continue
		}
		h.deliver(u)
	}
}

func (h *Hub) deliver(u Update) {
	h.mu.RLock()
	subs := h.subs[u.Target]
	if len(subs) == 0 || u.At <= h.last[u.Target] && h.last[u.Target] != 0 {
		h.mu.RUnlock()
		return
	}
	h.mu.RUnlock()
	h.mu.Lock()
	if u.At <= h.last[u.Target] {
		h.mu.Unlock()
		return // an older change, arrived after a newer one from another node
	}
	h.last[u.Target] = u.At
	for s := range h.subs[u.Target] {
		s.offer(u)
	}
	h.mu.Unlock()
}

// Sub is one subscriber: a live stream.
type Sub struct {
	h       *Hub
	targets []zan.Target
	// C has a value whenever updates are pending.
	C       chan struct{}
	mu      sync.Mutex
	pending map[zan.Target]int64
}

// Subscribe registers a subscriber for ts; ErrFull beyond MaxSubscribers.
func (h *Hub) Subscribe(ts []zan.Target) (*Sub, error) {
	s := &Sub{h: h, targets: ts, C: make(chan struct{}, 1), pending: make(map[zan.Target]int64, 4)}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.n >= h.MaxSubscribers {
		return nil, ErrFull
	}
	h.n++
	metrics.LiveStreams.Set(float64(h.n))
	for _, t := range ts {
		m := h.subs[t]
		if m == nil {
			m = map[*Sub]struct{}{}
			h.subs[t] = m
		}
		m[s] = struct{}{}
	}
	return s, nil
}

// offer records u for s and signals it, never blocking: a subscriber that
// does not keep up only ever has one pending count per target.
func (s *Sub) offer(u Update) {
	s.mu.Lock()
	s.pending[u.Target] = u.Count
	s.mu.Unlock()
	select {
	case s.C <- struct{}{}:
	default:
	}
}

// Take returns the pending updates and clears them.
func (s *Sub) Take() map[zan.Target]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.pending) == 0 {
		return nil
	}
	p := s.pending
	s.pending = make(map[zan.Target]int64, len(p))
	return p
}

// Close unregisters s.
func (s *Sub) Close() {
	h := s.h
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, t := range s.targets {
		if m := h.subs[t]; m != nil {
			delete(m, s)
			if len(m) == 0 {
				delete(h.subs, t)
				delete(h.last, t)
			}
		}
	}
	h.n--
	metrics.LiveStreams.Set(float64(h.n))
}
