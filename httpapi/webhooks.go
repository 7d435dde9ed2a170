package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/webhook"
)

// webhookJSON is an endpoint as the admin API shows it: never its secret.
type webhookJSON struct {
	ID        string   `json:"id"`
	URL       string   `json:"url"`
	Events    []string `json:"events"`
	Static    bool     `json:"static,omitempty"`
	CreatedAt *Time    `json:"created_at,omitempty"`
	// FailingSince: this node's view of the endpoint's current failures.
	FailingSince *Time `json:"failing_since,omitempty"`
}

func webhookView(e webhook.Endpoint, failing time.Time) webhookJSON {
	j := webhookJSON{ID: e.ID, URL: e.URL, Static: e.Static, Events: []string{"like", "unlike"}}
	if len(e.Events) > 0 {
		j.Events = j.Events[:0]
		for _, op := range e.Events {
			j.Events = append(j.Events, op.String())
		}
	}
	if !e.CreatedAt.IsZero() {
		t := Time(e.CreatedAt)
		j.CreatedAt = &t
	}
	if !failing.IsZero() {
		t := Time(failing)
		j.FailingSince = &t
	}
	return j
}

func (s *Server) webhooks() (*webhook.Deliverer, error) {
	if s.Webhooks == nil {
		return nil, zan.Errorf(zan.ENotFound, "webhooks are not configured")
	}
	return s.Webhooks, nil
}

func (s *Server) createWebhook(w http.ResponseWriter, r *http.Request) error {
	d, err := s.webhooks()
	if err != nil {
		return err
	}
	var req struct {
		URL    string   `json:"url"`
		Secret string   `json:"secret"`
		Events []string `json:"events"`
	}
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	e, err := d.Register(r.Context(), req.URL, req.Secret, req.Events)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, webhookView(e, time.Time{}))
}

func (s *Server) listWebhooks(w http.ResponseWriter, r *http.Request) error {
	d, err := s.webhooks()
	if err != nil {
		return err
	}
	st, err := d.List(r.Context())
	if err != nil {
		return err
	}
	out := make([]webhookJSON, len(st))
	for i, e := range st {
		out[i] = webhookView(e.Endpoint, e.FailingSince)
	}
	return writeJSON(w, http.StatusOK, map[string]any{"items": out})
}

func (s *Server) deleteWebhook(w http.ResponseWriter, r *http.Request) error {
	d, err := s.webhooks()
	if err != nil {
		return err
	}
	if err := d.Delete(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type webhookDeadJSON struct {
	Event  zan.Event `json:"event"`
	Reason string    `json:"reason"`
	At     Time      `json:"at"`
}

func (s *Server) listWebhookDead(w http.ResponseWriter, r *http.Request) error {
	d, err := s.webhooks()
	if err != nil {
		return err
	}
	limit := 100
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			return zan.Errorf(zan.EBadRequest, "limit must be an integer 1-10000")
		}
		limit = n
	}
	ds, err := d.DeadLetters(r.Context(), r.PathValue("id"), limit)
	if err != nil {
		return err
	}
	out := make([]webhookDeadJSON, len(ds))
	for i, dl := range ds {
		out[i] = webhookDeadJSON{Event: dl.Event, Reason: dl.Reason, At: Time(dl.At)}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"items": out})
}

func (s *Server) replayWebhookDead(w http.ResponseWriter, r *http.Request) error {
	d, err := s.webhooks()
	if err != nil {
		return err
	}
	var req struct {
		Events []string `json:"events"` // event ids; empty: all
	}
	if b, err := readBody(r); err != nil {
		return err
	} else if len(b) > 0 {
		if err := decodeJSON(b, &req); err != nil {
			return err
		}
	}
	if len(req.Events) > webhook.ReplayMax {
		return zan.Errorf(zan.EBadRequest, "at most %d events per replay", webhook.ReplayMax)
	}
	res, err := d.Replay(r.Context(), r.PathValue("id"), req.Events)
	if err != nil {
		return err
	}
	out := map[string]any{"replayed": res.Replayed, "left": res.Left}
	if res.Err != nil {
		out["error"] = res.Err.Error()
	}
	return writeJSON(w, http.StatusOK, out)
}
