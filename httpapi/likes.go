package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/blogs"
	"github.com/zanlabs/zan/likes"
	"github.com/zanlabs/zan/shops"
)

func pathTarget(r *http.Request) (zan.Target, error) {
	return zan.ParseTarget(r.PathValue("type"), r.PathValue("id"))
}

func (s *Server) like(w http.ResponseWriter, r *http.Request) error   { return s.toggle(w, r, true) }
func (s *Server) unlike(w http.ResponseWriter, r *http.Request) error { return s.toggle(w, r, false) }

func (s *Server) toggle(w http.ResponseWriter, r *http.Request, like bool) error {
	t, err := pathTarget(r)
	if err != nil {
		return err
	}
	ch, err := s.Likes.Toggle(r.Context(), userID(r), t, like)
	if err != nil {
		return err
	}
	var b [64]byte
	return writeBody(w, http.StatusOK, appendLikeChange(b[:0], likeChange{Liked: like, Changed: ch.Changed, Count: ch.Count}))
}

// appendLikeChange writes a like's answer by hand, as appendBatch does:
// it is the answer of every like. TestAppendLikeChange holds it to
// encoding/json's output.
func appendLikeChange(b []byte, c likeChange) []byte {
	b = append(b, `{"liked":`...)
	b = strconv.AppendBool(b, c.Liked)
	b = append(b, `,"changed":`...)
	b = strconv.AppendBool(b, c.Changed)
	b = append(b, `,"count":`...)
	b = strconv.AppendInt(b, c.Count, 10)
	return append(b, "}\n"...)
}

func (s *Server) getLike(w http.ResponseWriter, r *http.Request) error {
	t, err := pathTarget(r)
	if err != nil {
		return err
	}
	items, err := s.Likes.Get(r.Context(), []zan.Target{t}, userID(r))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, s.likeItem(r, items[0].Target, items[0].Count, items[0].Liked))
}

func (s *Server) likeItem(r *http.Request, t zan.Target, count int64, liked bool) likeItem {
	it := likeItem{Type: t.Type, ID: ID(t.ID), Count: count}
	if userID(r) != 0 {
		it.Liked = &liked
	}
	return it
}

func (s *Server) batchLikes(w http.ResponseWriter, r *http.Request) error {
	ts, err := zan.ParseTargetList(r.URL.Query().Get("targets"), MaxBatch)
	if err != nil {
		return err
	}
	items, err := s.Likes.Get(r.Context(), ts, userID(r))
	if err != nil {
		return err
	}
	return writeBody(w, http.StatusOK, appendBatch(make([]byte, 0, 16+len(items)*64), items, userID(r) != 0))
}

// appendBatch writes the batch answer by hand: a feed calls it most, and
// encoding/json spent a fifth of the call on reflection over 50 small items
// (profiled). TestAppendBatch holds it to encoding/json's output.
func appendBatch(b []byte, items []likes.Item, withLiked bool) []byte {
	b = append(b, `{"items":[`...)
	for i, it := range items {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"type":"`...)
		b = append(b, it.Target.Type...) // a ValidType: nothing to escape
		b = append(b, `","id":"`...)
		b = strconv.AppendInt(b, it.Target.ID, 10)
		b = append(b, `","count":`...)
		b = strconv.AppendInt(b, it.Count, 10)
		if withLiked {
			b = append(b, `,"liked":`...)
			b = strconv.AppendBool(b, it.Liked)
		}
		b = append(b, '}')
	}
	return append(b, "]}\n"...)
}

// likeQuery reads order, limit, cursor, since and until.
func likeQuery(r *http.Request) (zan.LikeQuery, error) {
	q := r.URL.Query()
	var lq zan.LikeQuery
	switch q.Get("order") {
	case "", "latest":
		lq.Order = zan.Latest
	case "earliest":
		lq.Order = zan.Earliest
	default:
		return lq, zan.Errorf(zan.EBadRequest, "order must be latest or earliest")
	}
	var err error
	if lq.Limit, lq.After, err = queryPage(r); err != nil {
		return lq, err
	}
	if lq.Since, err = queryTime(r, "since"); err != nil {
		return lq, err
	}
	if lq.Until, err = queryTime(r, "until"); err != nil {
		return lq, err
	}
	return lq, nil
}

func queryLimit(r *http.Request) (int, error) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return 20, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 100 {
		return 0, zan.Errorf(zan.EBadRequest, "limit must be an integer 1-100")
	}
	return n, nil
}

// queryPage reads a page's ?limit= and ?cursor=.
func queryPage(r *http.Request) (limit int, after *zan.Cursor, err error) {
	if limit, err = queryLimit(r); err != nil {
		return 0, nil, err
	}
	after, err = zan.DecodeCursor(r.URL.Query().Get("cursor"))
	return limit, after, err
}

func queryTime(r *http.Request, name string) (time.Time, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, zan.Errorf(zan.EBadRequest, "%s must be an RFC 3339 time", name)
	}
	return t, nil
}

func (s *Server) likers(w http.ResponseWriter, r *http.Request) error {
	t, err := pathTarget(r)
	if err != nil {
		return err
	}
	q, err := likeQuery(r)
	if err != nil {
		return err
	}
	p, err := s.Likes.Likers(r.Context(), t, q)
	if err != nil {
		return err
	}
	ids := make([]int64, len(p.Items))
	for i, l := range p.Items {
		ids[i] = l.UserID
	}
	us, err := s.people(r, ids)
	if err != nil {
		return err
	}
	out := page[likerItem]{Items: make([]likerItem, len(p.Items)), NextCursor: cursorString(p.Next)}
	for i, l := range p.Items {
		u := us[l.UserID]
		out.Items[i] = likerItem{UserID: ID(l.UserID), LikedAt: Time(l.LikedAt), Nickname: u.Nickname, Avatar: u.Avatar}
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) userLikes(w http.ResponseWriter, r *http.Request) error {
	uid, err := zan.ParseID(r.PathValue("uid"))
	if err != nil {
		return err
	}
	q, err := likeQuery(r)
	if err != nil {
		return err
	}
	if q.Type = r.URL.Query().Get("type"); q.Type != "" && !zan.ValidType(q.Type) {
		return zan.Errorf(zan.EBadRequest, "invalid type")
	}
	p, err := s.Likes.UserLikes(r.Context(), uid, q)
	if err != nil {
		return err
	}
	ts := make([]zan.Target, len(p.Items))
	for i, l := range p.Items {
		ts[i] = l.Target
	}
	names, err := s.targetNames(r, ts)
	if err != nil {
		return err
	}
	out := page[userLikeItem]{Items: make([]userLikeItem, len(p.Items)), NextCursor: cursorString(p.Next)}
	for i, l := range p.Items {
		out.Items[i] = userLikeItem{Type: l.Target.Type, ID: ID(l.Target.ID), LikedAt: Time(l.LikedAt), Name: names[i]}
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) commonLikers(w http.ResponseWriter, r *http.Request) error {
	a, err := pathTarget(r)
	if err != nil {
		return err
	}
	with := r.URL.Query().Get("with")
	if with == "" {
		return zan.Errorf(zan.EBadRequest, "with=type:id is required")
	}
	b, err := zan.ParseTargetPair(with)
	if err != nil {
		return err
	}
	limit, err := queryLimit(r)
	if err != nil {
		return err
	}
	users, err := s.Likes.Common(r.Context(), a, b, limit)
	if err != nil {
		return err
	}
	us, err := s.people(r, users)
	if err != nil {
		return err
	}
	out := make([]commonItem, len(users))
	for i, u := range users {
		out[i] = commonItem{UserID: ID(u), Nickname: us[u].Nickname, Avatar: us[u].Avatar}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"items": out})
}

// people finds users by id, so that people are shown by name and avatar;
// nil Accounts (a server without the account service) finds nobody, and a
// user not found is the zero User (no name).
func (s *Server) people(r *http.Request, ids []int64) (map[int64]zan.User, error) {
	if s.Accounts == nil || len(ids) == 0 {
		return map[int64]zan.User{}, nil
	}
	return s.Accounts.Users(r.Context(), ids)
}

// targetNames is what a person calls each target: a blog's title, a
// shop's name; "" for one that is gone or of a type without names. The
// blogs are one query for the page; shops come from their cache.
func (s *Server) targetNames(r *http.Request, ts []zan.Target) ([]string, error) {
	names := make([]string, len(ts))
	var blogIDs []int64
	for i, t := range ts {
		switch {
		case t.Type == blogs.TargetType && s.Blogs != nil:
			blogIDs = append(blogIDs, t.ID)
		case t.Type == shops.TargetType && s.Shops != nil:
			sh, err := s.Shops.Get(r.Context(), t.ID)
			if err != nil && !zan.IsNotFound(err) {
				return nil, err
			}
			names[i] = sh.Name
		}
	}
	if len(blogIDs) == 0 {
		return names, nil
	}
	titles, err := s.Blogs.Titles(r.Context(), blogIDs)
	if err != nil {
		return nil, err
	}
	for i, t := range ts {
		if t.Type == blogs.TargetType {
			names[i] = titles[t.ID]
		}
	}
	return names, nil
}
