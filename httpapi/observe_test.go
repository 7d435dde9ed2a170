package httpapi

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	dto "github.com/prometheus/client_model/go"

	"github.com/zanlabs/zan/metrics"
)

// BenchmarkObserve is what the outermost middleware costs a request:
// metrics by route and status, the access-log check, the user slot.
func BenchmarkObserve(b *testing.B) {
	s := &Server{Logger: slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /bench/{id}", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	h := s.observe(mux)
	req := httptest.NewRequest("PUT", "/bench/1", nil)
	w := &nopWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, req)
	}
}

type nopWriter struct{ h http.Header }

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *nopWriter) WriteHeader(int)             {}

// The cached observers count what WithLabelValues would: by route and
// status, and every status apart.
func TestObserveCounts(t *testing.T) {
	s := &Server{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /observe-test/{code}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("code") == "404" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.Write([]byte("ok"))
	})
	h := s.observe(mux)
	route := "GET /observe-test/{code}"
	ok0 := count(metrics.HTTPRequests.WithLabelValues(route, "200"))
	nf0 := count(metrics.HTTPRequests.WithLabelValues(route, "404"))
	for _, p := range []string{"/observe-test/1", "/observe-test/404", "/observe-test/2"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", p, nil))
	}
	if ok := count(metrics.HTTPRequests.WithLabelValues(route, "200")) - ok0; ok != 2 {
		t.Errorf("200s counted: %v, want 2", ok)
	}
	if nf := count(metrics.HTTPRequests.WithLabelValues(route, "404")) - nf0; nf != 1 {
		t.Errorf("404s counted: %v, want 1", nf)
	}
}

func count(c interface{ Write(*dto.Metric) error }) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}

type wrapped struct{ http.ResponseWriter }

func (w wrapped) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// wrap finds observe's writer under other wrappers, to note the user in.
func TestStatusWriterOf(t *testing.T) {
	sw := &statusWriter{ResponseWriter: httptest.NewRecorder()}
	if got := statusWriterOf(wrapped{wrapped{sw}}); got != sw {
		t.Errorf("statusWriterOf(wrapped) = %p, want %p", got, sw)
	}
	if got := statusWriterOf(httptest.NewRecorder()); got != nil {
		t.Errorf("statusWriterOf(recorder) = %p, want nil", got)
	}
}
