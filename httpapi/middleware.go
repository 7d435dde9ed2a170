package httpapi

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/metrics"
)

// handlerFunc is a handler that returns its error for one place to render.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

type ctxKey int

const (
	userKey ctxKey = iota
)

// userID returns the authenticated user of r, 0 when anonymous.
func userID(r *http.Request) int64 {
	id, _ := r.Context().Value(userKey).(int64)
	return id
}

// statusWriter remembers the status for logs and metrics.
type statusWriter struct {
	http.ResponseWriter
	status int
	// user is the authenticated user, filled by wrap, so that observe,
	// outside the mux, can log who made the request. (It was a slot in the
	// request's context: two allocations and a copy of the request each.)
	user int64
}

// statusWriterOf finds observe's statusWriter under w's wrappers.
func statusWriterOf(w http.ResponseWriter) *statusWriter {
	for {
		switch v := w.(type) {
		case *statusWriter:
			return v
		case interface{ Unwrap() http.ResponseWriter }:
			w = v.Unwrap()
		default:
			return nil
		}
	}
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// observe counts, times and logs every request; it also enforces the body
// limit, and authenticates a bearer token when one is given, so that any
// request with a token slides its session.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		r.Body = http.MaxBytesReader(sw, r.Body, bodyLimit(r))
		if !s.cors(sw, r) {
			next.ServeHTTP(sw, r)
		}
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		d := time.Since(start)
		m := routeMetricsOf(route, sw.status)
		m.count.Inc()
		m.took.Observe(d.Seconds())
		level := slog.LevelDebug
		if s.AccessLog {
			level = slog.LevelInfo
		}
		if sw.status >= 500 {
			level = slog.LevelWarn
		}
		if s.Logger.Enabled(r.Context(), level) {
			s.Logger.LogAttrs(r.Context(), level, "request",
				slog.String("method", r.Method), slog.String("path", r.URL.Path),
				slog.Int("status", sw.status), slog.Duration("took", d),
				slog.Int64("user", sw.user))
		}
	})
}

// wrap turns a handlerFunc into a handler: it authenticates an optional
// token and renders the returned error.
func (s *Server) wrap(fn handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.Logger.Error("panic serving request", "path", r.URL.Path, "panic", p)
				s.writeError(w, r, errors.New("panic"))
			}
		}()
		// url.Query drops pairs it cannot decode; a client must hear that its
		// cursor or filter was not read rather than get an unfiltered answer.
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			s.writeError(w, r, zan.Errorf(zan.EBadRequest, "malformed query string"))
			return
		}
		if err := checkURLText(r.URL.Path, q); err != nil {
			s.writeError(w, r, err)
			return
		}
		if limit := bodyLimit(r); r.ContentLength > limit {
			s.writeError(w, r, zan.Errorf(zan.ETooLarge, "request body over %d bytes", limit))
			return
		}
		// An upload is streamed, not buffered: it is read once, by the
		// handler.
		if r.URL.Path != uploadPath {
			if err := bufferBody(r); err != nil {
				s.writeError(w, r, err)
				return
			}
		}
		tok, ok := bearer(r)
		if !ok && r.URL.Path == notifyStreamPath && q.Get("access_token") != "" {
			tok, ok = q.Get("access_token"), true // EventSource sends no headers
		}
		if ok && s.Accounts != nil && !strings.HasPrefix(r.URL.Path, "/api/v1/admin/") {
			uid, strict, err := s.authenticate(r.Context(), tok)
			switch {
			case err == nil:
				r = r.WithContext(context.WithValue(r.Context(), userKey, uid))
				if sw := statusWriterOf(w); sw != nil {
					sw.user = uid
				}
			case strict || zan.ErrorCode(err) != zan.EUnauthorized:
				s.writeError(w, r, err)
				return
			}
		}
		if userID(r) == 0 && (r.Method == http.MethodGet || r.Method == http.MethodHead) && strings.HasPrefix(r.URL.Path, "/api/") && r.URL.Path != streamPath {
			if err := s.budget(r, "read", s.Clients.Read, s.Clients.ReadLimiter); err != nil {
				s.writeError(w, r, err)
				return
			}
		}
		if err := fn(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

// streamPath is the live stream's path: it has budgets of its own.
const streamPath = "/api/v1/likes/stream"

// auth refuses anonymous requests.
func (s *Server) auth(next handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if userID(r) == 0 {
			return zan.Errorf(zan.EUnauthorized, "missing, invalid or expired token")
		}
		return next(w, r)
	}
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:]), true
	}
	return "", false
}

// readBody reads the (limited) body; over the limit is too_large.
func readBody(r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(r.Body)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, zan.Errorf(zan.ETooLarge, "request body over %d bytes", MaxBody)
	}
	if err != nil {
		return nil, zan.Errorf(zan.EBadRequest, "reading body: %v", err)
	}
	return b, nil
}

func decodeBody(r *http.Request, v any) error {
	b, err := readBody(r)
	if err != nil {
		return err
	}
	return decodeJSON(b, v)
}

// routeMetrics are the metrics of one route and status, looked up once:
// WithLabelValues hashes its labels under a lock on every call, and the
// status needs a string.
type routeMetrics struct {
	count prometheus.Counter
	took  prometheus.Observer
}

type routeStatus struct {
	route  string
	status int
}

var routes = struct {
	sync.RWMutex
	m map[routeStatus]*routeMetrics
}{m: map[routeStatus]*routeMetrics{}}

// routeMetricsOf returns the metrics of route and status. Routes are the
// mux's patterns and "unmatched", statuses the handful the API answers:
// the map stays small.
func routeMetricsOf(route string, status int) *routeMetrics {
	k := routeStatus{route, status}
	routes.RLock()
	m := routes.m[k]
	routes.RUnlock()
	if m != nil {
		return m
	}
	m = &routeMetrics{
		count: metrics.HTTPRequests.WithLabelValues(route, strconv.Itoa(status)),
		took:  metrics.HTTPDuration.WithLabelValues(route),
	}
	routes.Lock()
	routes.m[k] = m
	routes.Unlock()
	return m
}
