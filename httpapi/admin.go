package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"strings"

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

// reconcile compares hot state and store for the targets named ("type:id"
// or "type/id"), or for every hot target with {"all":true}, and repairs.
func (s *Server) reconcile(w http.ResponseWriter, r *http.Request) error {
	if s.Reconciler == nil {
		return zan.Errorf(zan.ENotFound, "reconciliation is not configured")
	}
	var req struct {
		Targets []string `json:"targets"`
		All     bool     `json:"all"`
	}
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if req.All == (len(req.Targets) > 0) {
		return zan.Errorf(zan.EBadRequest, `give either "targets" or "all":true`)
	}
	if len(req.Targets) > 10000 {
		return zan.Errorf(zan.EBadRequest, "at most 10000 targets per call")
	}
	if req.All {
		res, err := s.Reconciler.All(r.Context(), nil)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, res)
	}
	ts := make([]zan.Target, len(req.Targets))
	for i, v := range req.Targets {
		t, err := zan.ParseTargetPair(strings.Replace(v, "/", ":", 1))
		if err != nil {
			return err
		}
		if err := s.Likes.CheckTarget(t); err != nil {
			return err
		}
		ts[i] = t
	}
	res, err := s.Reconciler.Targets(r.Context(), ts)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, res)
}

// Migration is an online migration (package migrate's Online).
type Migration interface {
	MigrationStatus(ctx context.Context) (any, error)
	SwitchMigration(ctx context.Context, phase string, readShare *int) (any, error)
}

func (s *Server) migrationStatus(w http.ResponseWriter, r *http.Request) error {
	if s.Migration == nil {
		return zan.Errorf(zan.ENotFound, "no migration runs: start the nodes with --mirror-db")
	}
	st, err := s.Migration.MigrationStatus(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, st)
}

func (s *Server) switchMigration(w http.ResponseWriter, r *http.Request) error {
	if s.Migration == nil {
		return zan.Errorf(zan.ENotFound, "no migration runs: start the nodes with --mirror-db")
	}
	var req struct {
		Phase     string `json:"phase"`
		ReadShare *int   `json:"read_share"`
	}
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if req.Phase == "" {
		return zan.Errorf(zan.EBadRequest, "phase is required")
	}
	st, err := s.Migration.SwitchMigration(r.Context(), req.Phase, req.ReadShare)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, st)
}
