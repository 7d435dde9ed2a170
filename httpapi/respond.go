package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/zanlabs/zan"
)

// statuses maps every error code to its HTTP status: the one table.
var statuses = map[string]int{
	zan.EBadRequest:       http.StatusBadRequest,
	zan.EUnauthorized:     http.StatusUnauthorized,
	zan.EForbidden:        http.StatusForbidden,
	zan.ENotFound:         http.StatusNotFound,
	zan.EMethodNotAllowed: http.StatusMethodNotAllowed,
	zan.EConflict:         http.StatusConflict,
	zan.ESoldOut:          http.StatusGone,
	zan.ETooLarge:         http.StatusRequestEntityTooLarge,
	zan.ERateLimited:      http.StatusTooManyRequests,
	zan.EUnavailable:      http.StatusServiceUnavailable,
	zan.EInternal:         http.StatusInternalServerError,
}

// Status returns the HTTP status of an error code.
func Status(code string) int {
	if s, ok := statuses[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := zan.ErrorCode(err)
	status := Status(code)
	if r.Context().Err() != nil && errors.Is(err, r.Context().Err()) {
		// The client left before the answer: nobody reads this one, and it
		// is no fault of the server's. (499 in the access log, as nginx.)
		s.Logger.Debug("client gone", "method", r.Method, "path", r.URL.Path)
		w.WriteHeader(499)
		return
	}
	switch {
	case code == zan.EInternal:
		s.Logger.Error("internal error", "method", r.Method, "path", r.URL.Path, "err", err)
	case status == http.StatusServiceUnavailable:
		s.Logger.Warn("dependency unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
		w.Header().Set("Retry-After", "1")
	}
	if status == http.StatusUnauthorized {
		// RFC 6750: say which scheme, and whether the token given was bad.
		challenge := `Bearer realm="zan"`
		if _, ok := bearer(r); ok {
			challenge += `, error="invalid_token"`
		}
		w.Header().Set("WWW-Authenticate", challenge)
	}
	if code == zan.ERateLimited {
		secs := 1
		var ze *zan.Error
		if errors.As(err, &ze) && ze.RetryAfter > 0 {
			secs = int((ze.RetryAfter + 999_999_999) / 1_000_000_000)
		}
		w.Header().Set("Retry-After", strconv.Itoa(secs))
	}
	_ = writeJSON(w, status, errorBody{Error: errorDetail{Code: code, Message: zan.ErrorMessage(err)}})
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return writeBody(w, status, append(b, '\n'))
}

var jsonType = []string{"application/json; charset=utf-8"}

// writeBody sends a JSON body that is ready, newline included.
func writeBody(w http.ResponseWriter, status int, b []byte) error {
	h := w.Header()
	h["Content-Type"] = jsonType // shared: Set and Add replace a value, never write into it
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
	return nil
}
