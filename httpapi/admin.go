package httpapi

import (
	"net/http"
	"strconv"

	"github.com/zanlabs/zan"
)

type deadLetterJSON struct {
	Seq    string     `json:"seq"`
	Event  *zan.Event `json:"event,omitempty"`
	Raw    string     `json:"raw,omitempty"`
	Reason string     `json:"reason"`
	At     Time       `json:"at"`
}

func (s *Server) listDeadLetters(w http.ResponseWriter, r *http.Request) error {
	limit := 100
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			return zan.Errorf(zan.EBadRequest, "limit must be an integer 1-10000")
		}
		limit = n
	}
	dls, err := s.Log.DeadLetters(r.Context(), limit)
	if err != nil {
		return zan.Unavailable("event log", err)
	}
	out := make([]deadLetterJSON, len(dls))
	for i, d := range dls {
		out[i] = deadLetterJSON{Seq: strconv.FormatUint(d.Seq, 10), Event: d.Event, Reason: d.Reason, At: Time(d.At)}
		if d.Event == nil {
			out[i].Raw = string(d.Raw)
		}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"items": out})
}

func (s *Server) replayDeadLetters(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Seqs []string `json:"seqs"` // empty: all
	}
	if b, err := readBody(r); err != nil {
		return err
	} else if len(b) > 0 {
		if err := decodeJSON(b, &req); err != nil {
			return err
		}
	}
	seqs := make([]uint64, len(req.Seqs))
	for i, v := range req.Seqs {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n == 0 {
			return zan.Errorf(zan.EBadRequest, "invalid seq %q", v)
		}
		seqs[i] = n
	}
	n, err := s.Log.Replay(r.Context(), seqs)
	if err != nil {
		return zan.Unavailable("event log", err)
	}
	return writeJSON(w, http.StatusOK, map[string]int{"replayed": n})
}
