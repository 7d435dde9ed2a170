package notify

import (
	"context"
	"sync"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/metrics"
)

// ErrFull is returned by Subscribe when the node has MaxSubscribers.
var ErrFull = zan.Errorf(zan.EUnavailable, "too many unread streams on this node; try again later")

// Hub wakes this node's unread-count streams when their inbox changed on
// any node. The broadcast names users only: a stream rereads its count from
// the store (one row), so broadcasts that cross on the way from two nodes
// never leave it showing an older count.
type Hub struct {
	// MaxSubscribers caps the unread streams of this node (10,000).
	MaxSubscribers int

	bus  zan.Notifier
	mu   sync.Mutex
	subs map[int64]map[*Sub]struct{}
	n    int
}

// NewHub returns a hub listening on bus.
func NewHub(bus zan.Notifier) *Hub {
	return &Hub{MaxSubscribers: 10000, bus: bus, subs: map[int64]map[*Sub]struct{}{}}
}

// Run listens for inbox changes until ctx ends.
func (h *Hub) Run(ctx context.Context) error {
	stop, err := h.bus.Subscribe(topic, h.receive)
	if err != nil {
		return err
	}
	defer stop()
	<-ctx.Done()
	return nil
}

func (h *Hub) receive(b []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, u := range parseUsers(b) {
		for s := range h.subs[u] {
			select {
			case s.C <- struct{}{}:
			default: // already signalled
			}
		}
	}
}

// Sub is one stream's subscription; C has a value when the inbox changed.
type Sub struct {
	h    *Hub
	user int64
	C    chan struct{}
}

// Subscribe registers a stream of user's unread count.
func (h *Hub) Subscribe(user int64) (*Sub, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.n >= h.MaxSubscribers {
		return nil, ErrFull
	}
	s := &Sub{h: h, user: user, C: make(chan struct{}, 1)}
	if h.subs[user] == nil {
		h.subs[user] = map[*Sub]struct{}{}
	}
	h.subs[user][s] = struct{}{}
	h.n++
	metrics.NotifyStreams.Set(float64(h.n))
	return s, nil
}

// Close unregisters s.
func (s *Sub) Close() {
	h := s.h
	h.mu.Lock()
	defer h.mu.Unlock()
	if m := h.subs[s.user]; m != nil {
		if _, ok := m[s]; !ok {
			return
		}
		delete(m, s)
		if len(m) == 0 {
			delete(h.subs, s.user)
		}
		h.n--
		metrics.NotifyStreams.Set(float64(h.n))
	}
}
