package httpapi

import (
	"bytes"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/metrics"
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

// StreamWriteTimeout is how long one write to a live stream may block
// before the stream is dropped: a client that does not read must not keep
// a goroutine and its buffers forever.
var StreamWriteTimeout = 10 * time.Second

// streamSlot takes one of the client address's stream slots, within its
// budget of stream opens: every kind of stream shares them.
func (s *Server) streamSlot(r *http.Request) (release func(), err error) {
	if err := s.budget(r, "stream", s.Clients.StreamOpen, s.Clients.Limiter); err != nil {
		return nil, err
	}
	return s.clientStreams.acquire(s.clientAddr(r), s.Clients.Streams)
}

// likeStream sends live counts: the counts at once, then the changes made
// on any node as the live hub delivers them, at most one event per target
// per StreamInterval.
//
// The connection is taken over from net/http once the request is checked:
// an idle stream then costs one goroutine and a few small buffers, where
// net/http's own path keeps a background reader goroutine and 4 KB write
// buffers per connection (about 32 KB per idle stream, measured, against
// under 25 KB taken over). A client that leaves is noticed at the next
// write, the keep-alive at the latest.
func (s *Server) likeStream(w http.ResponseWriter, r *http.Request) error {
	ts, err := zan.ParseTargetList(r.URL.Query().Get("targets"), MaxBatch)
	if err != nil {
		return err
	}
	if s.Live == nil {
		return zan.Errorf(zan.EUnavailable, "live counts are not enabled on this node")
	}
	release, err := s.streamSlot(r)
	if err != nil {
		return err
	}
	defer release()
	// Subscribed before the first read, so that no change falls between.
	sub, err := s.Live.Subscribe(ts)
	if err != nil {
		return err
	}
	defer sub.Close()
	items, err := s.Likes.Get(r.Context(), ts, 0)
	if err != nil {
		return err
	}
	s.streams.init()
	out, err := openStream(w)
	if err != nil {
		return nil // the client left
	}
	defer out.close()

	last := make(map[zan.Target]int64, len(ts))
	sentAt := make(map[zan.Target]time.Time, len(ts))
	due := map[zan.Target]int64{} // changes held back by the interval
	var buf bytes.Buffer
	event := func(t zan.Target, n int64, now time.Time) {
		if old, ok := last[t]; ok && old == n {
			return
		}
		last[t], sentAt[t] = n, now
		buf.WriteString("event: count\ndata: {\"type\":\"")
		buf.WriteString(t.Type)
		buf.WriteString("\",\"id\":\"")
		buf.WriteString(strconv.FormatInt(t.ID, 10))
		buf.WriteString("\",\"count\":")
		buf.WriteString(strconv.FormatInt(n, 10))
		buf.WriteString("}\n\n")
	}
	flush := func() error {
		if buf.Len() == 0 {
			return nil
		}
		err := out.write(buf.Bytes())
		buf.Reset()
		if err != nil && r.Context().Err() == nil {
			metrics.LiveDropped.Inc()
		}
		return err
	}
	now := time.Now()
	for _, it := range items {
		event(it.Target, it.Count, now)
	}
	if flush() != nil {
		return nil
	}
	keep := time.NewTicker(StreamKeepAlive)
	defer keep.Stop()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	// send emits what is due now and arms the timer for the rest.
	send := func() error {
		now := time.Now()
		var next time.Duration
		for t, n := range due {
			if wait := StreamInterval - now.Sub(sentAt[t]); wait > 0 {
				if next == 0 || wait < next {
					next = wait
				}
				continue
			}
			event(t, n, now)
			delete(due, t)
		}
		if next > 0 {
			timer.Reset(next)
		}
		return flush()
	}
	for {
		select {
		case <-r.Context().Done():
			return nil
		case <-out.gone:
			return nil
		case <-s.streams.done:
			return nil
		case <-keep.C:
			buf.WriteString(": keep-alive\n\n")
			if flush() != nil {
				return nil
			}
		case <-sub.C:
			for t, n := range sub.Take() {
				due[t] = n
			}
			if send() != nil {
				return nil
			}
		case <-timer.C:
			if send() != nil {
				return nil
			}
		}
	}
}

// stream is where a live stream's bytes go: the connection taken over from
// net/http, or (where it cannot be taken over, as with HTTP/2) the
// ResponseWriter.
type stream struct {
	conn net.Conn
	w    http.ResponseWriter
	rc   *http.ResponseController
	// gone is closed when the client hangs up a taken-over connection:
	// its stream slot is then freed at once, not at the next write that
	// fails (a keep-alive or two later, up to 30 s).
	gone chan struct{}
}

const streamHead = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n" +
	"X-Accel-Buffering: no\r\nConnection: close\r\n\r\n"

func openStream(w http.ResponseWriter) (*stream, error) {
	rc := http.NewResponseController(w)
	if conn, _, err := rc.Hijack(); err == nil {
		// The buffered reader and writer returned with the connection are
		// dropped: nothing more is read, and writes go out whole.
		s := &stream{conn: conn, gone: make(chan struct{})}
		// The server's read deadline for the request stays on the
		// connection: cleared, or watch would take it for a hang-up.
		_ = conn.SetReadDeadline(time.Time{})
		go s.watch()
		return s, s.write([]byte(streamHead))
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // proxies must not hold events back
	w.WriteHeader(http.StatusOK)
	return &stream{w: w, rc: rc}, rc.Flush()
}

// watch reads the taken-over connection until the client closes it (or
// the stream does): a client sends nothing after its request, so the read
// ends only then. It costs a goroutine blocked in the network poller, a
// few KB, against a slot held for up to 30 s by every client gone.
func (s *stream) watch() {
	var b [1]byte
	for {
		if _, err := s.conn.Read(b[:]); err != nil {
			close(s.gone)
			return
		}
	}
}

func (s *stream) write(b []byte) error {
	if s.conn != nil {
		_ = s.conn.SetWriteDeadline(time.Now().Add(StreamWriteTimeout))
		_, err := s.conn.Write(b)
		return err
	}
	_ = s.rc.SetWriteDeadline(time.Now().Add(StreamWriteTimeout))
	if _, err := s.w.Write(b); err != nil {
		return err
	}
	return s.rc.Flush()
}

func (s *stream) close() {
	if s.conn != nil {
		s.conn.Close()
	}
}
