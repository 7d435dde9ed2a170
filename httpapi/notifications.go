package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/zanlabs/zan"
)

// notifyStreamPath is the unread-count stream's path: its token may come
// as ?access_token=, since EventSource cannot set headers.
const notifyStreamPath = "/api/v1/notifications/stream"

type notificationJSON struct {
	ID     ID     `json:"id"`
	Kind   string `json:"kind"`
	Target struct {
		Type string `json:"type"`
		ID   ID     `json:"id"`
	} `json:"target"`
	Actors     []userJSON `json:"actors"`
	ActorCount int64      `json:"actor_count"`
	Read       bool       `json:"read"`
	UpdatedAt  Time       `json:"updated_at"`
}

func (s *Server) inboxOn() error {
	if s.Notify == nil {
		return zan.Errorf(zan.EUnavailable, "notifications are not enabled on this node")
	}
	return nil
}

func (s *Server) notifications(w http.ResponseWriter, r *http.Request) error {
	if err := s.inboxOn(); err != nil {
		return err
	}
	limit, after, err := queryPage(r)
	if err != nil {
		return err
	}
	p, err := s.Notify.Inbox(r.Context(), userID(r), limit, after)
	if err != nil {
		return err
	}
	out := struct {
		Items      []notificationJSON `json:"items"`
		NextCursor *string            `json:"next_cursor"`
		Unread     int64              `json:"unread"`
	}{Items: make([]notificationJSON, len(p.Items)), NextCursor: cursorString(p.Next), Unread: p.Unread}
	for i, it := range p.Items {
		j := notificationJSON{ID: ID(it.ID), Kind: it.Kind, Actors: make([]userJSON, len(it.ActorUsers)),
			ActorCount: it.ActorCount, Read: it.Read, UpdatedAt: Time(it.UpdatedAt)}
		j.Target.Type, j.Target.ID = it.Target.Type, ID(it.Target.ID)
		for k, u := range it.ActorUsers {
			j.Actors[k] = publicUser(u, false)
		}
		out.Items[i] = j
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) unreadNotifications(w http.ResponseWriter, r *http.Request) error {
	if err := s.inboxOn(); err != nil {
		return err
	}
	n, err := s.Notify.Unread(r.Context(), userID(r))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]int64{"unread": n})
}

func (s *Server) readNotifications(w http.ResponseWriter, r *http.Request) error {
	if err := s.inboxOn(); err != nil {
		return err
	}
	var req struct {
		IDs []ID `json:"ids"`
		All bool `json:"all"`
	}
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	ids := make([]int64, len(req.IDs))
	for i, id := range req.IDs {
		ids[i] = int64(id)
	}
	if err := s.Notify.MarkRead(r.Context(), userID(r), ids, req.All); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// notificationStream sends the user's unread count at once and again after
// every change of their inbox on any node (the inbox hub wakes it; the
// count is reread from the store, so it is never older than the last
// change). Changes that come in a burst are sent at most once per
// StreamInterval.
func (s *Server) notificationStream(w http.ResponseWriter, r *http.Request) error {
	if err := s.inboxOn(); err != nil {
		return err
	}
	if s.Inbox == nil {
		return zan.Errorf(zan.EUnavailable, "notification streams are not enabled on this node")
	}
	release, err := s.streamSlot(r)
	if err != nil {
		return err
	}
	defer release()
	user := userID(r)
	sub, err := s.Inbox.Subscribe(user) // before the first read: no change falls between
	if err != nil {
		return err
	}
	defer sub.Close()
	n, err := s.Notify.Unread(r.Context(), user)
	if err != nil {
		return err
	}
	s.streams.init()
	out, err := openStream(w)
	if err != nil {
		return nil // the client left
	}
	defer out.close()
	last := int64(-1)
	send := func(n int64) error {
		if n == last {
			return nil
		}
		last = n
		return out.write([]byte("event: unread\ndata: {\"unread\":" + strconv.FormatInt(n, 10) + "}\n\n"))
	}
	if send(n) != nil {
		return nil
	}
	keep := time.NewTicker(StreamKeepAlive)
	defer keep.Stop()
	var sentAt time.Time
	for {
		select {
		case <-r.Context().Done():
			return nil
		case <-out.gone:
			return nil
		case <-s.streams.done:
			return nil
		case <-keep.C:
			if out.write([]byte(": keep-alive\n\n")) != nil {
				return nil
			}
		case <-sub.C:
			if wait := StreamInterval - time.Since(sentAt); wait > 0 {
				t := time.NewTimer(wait)
				select {
				case <-t.C:
				case <-r.Context().Done():
					t.Stop()
					return nil
				}
			}
			sentAt = time.Now()
			n, err := s.Notify.Unread(r.Context(), user)
			if err != nil {
				// The next change or the client's reconnect tries again.
				s.Logger.Debug("unread stream: reading the count", "err", err)
				continue
			}
			if send(n) != nil {
				return nil
			}
		}
	}
}
