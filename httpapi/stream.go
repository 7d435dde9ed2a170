package httpapi

import (
	"bytes"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/likes"
)

// Stream timings of the contract: at most one event per target per
// StreamInterval, a keep-alive comment every StreamKeepAlive.
var (
	StreamInterval  = 250 * time.Millisecond
	StreamKeepAlive = 15 * time.Second
)

// streams ends open event streams when the server shuts down, so that
// Shutdown does not wait for clients that never hang up.
type streams struct {
	once sync.Once
	done chan struct{}
}

func (s *streams) init() { s.once.Do(func() { s.done = make(chan struct{}) }) }

// CloseStreams ends every open event stream; register it with
// http.Server.RegisterOnShutdown.
func (s *Server) CloseStreams() {
	s.streams.init()
	select {
	case <-s.streams.done:
	default:
		close(s.streams.done)
	}
}

// likeStream sends live counts. It reads the like service every interval
// rather than subscribing to events: the hot state is shared by every node
// (Redis when scaled out), so changes made anywhere show, and a read of a
// few hundred in-memory counts is cheaper than a fan-out of every event.
func (s *Server) likeStream(w http.ResponseWriter, r *http.Request) error {
	ts, err := zan.ParseTargetList(r.URL.Query().Get("targets"), MaxBatch)
	if err != nil {
		return err
	}
	items, err := s.Likes.Get(r.Context(), ts, 0)
	if err != nil {
		return err
	}
	s.streams.init()
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // proxies must not hold events back
	w.WriteHeader(http.StatusOK)

	last := make([]int64, len(ts))
	var buf bytes.Buffer
	send := func(items []likes.Item, all bool) error {
		buf.Reset()
		for i, it := range items {
			if !all && it.Count == last[i] {
				continue
			}
			last[i] = it.Count
			buf.WriteString("event: count\ndata: {\"type\":\"")
			buf.WriteString(it.Target.Type)
			buf.WriteString("\",\"id\":\"")
			buf.WriteString(strconv.FormatInt(it.Target.ID, 10))
			buf.WriteString("\",\"count\":")
			buf.WriteString(strconv.FormatInt(it.Count, 10))
			buf.WriteString("}\n\n")
		}
		if buf.Len() == 0 {
			return nil
		}
		if _, err := w.Write(buf.Bytes()); err != nil {
			return err
		}
		return rc.Flush()
	}
	if err := send(items, true); err != nil {
		return nil // the client left
	}
	tick := time.NewTicker(StreamInterval)
	defer tick.Stop()
	keep := time.NewTicker(StreamKeepAlive)
	defer keep.Stop()
	for {
		select {
		case <-r.Context().Done():
			return nil
		case <-s.streams.done:
			return nil
		case <-keep.C:
			if _, err := w.Write([]byte(": keep-alive\n\n")); err != nil {
				return nil
			}
			if rc.Flush() != nil {
				return nil
			}
		case <-tick.C:
			items, err := s.Likes.Get(r.Context(), ts, 0)
			if err != nil {
				// A dependency hiccup: keep the stream, try again next tick.
				s.Logger.Debug("like stream read", "err", err)
				continue
			}
			if send(items, false) != nil {
				return nil
			}
		}
	}
}
