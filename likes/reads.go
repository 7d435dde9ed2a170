package likes

import (
	"context"
	"strconv"

	"github.com/zanlabs/zan"
)

// Listings come from the store: they lag the hot state by the persister's
// batch wait (100 ms by default), which the README states.

// MaxLimit is the largest page a listing returns.
const MaxLimit = 100

func checkQuery(q *zan.LikeQuery) error {
	if q.Limit == 0 {
		q.Limit = 20
	}
	if q.Limit < 1 || q.Limit > MaxLimit {
		return zan.Errorf(zan.EBadRequest, "limit must be 1-%d", MaxLimit)
	}
	if !q.Since.IsZero() && !q.Until.IsZero() && !q.Until.After(q.Since) {
		return zan.Errorf(zan.EBadRequest, "until must be after since")
	}
	return nil
}

// Likers lists the users who like t.
func (s *Service) Likers(ctx context.Context, t zan.Target, q zan.LikeQuery) (zan.LikerPage, error) {
	if err := s.CheckTarget(t); err != nil {
		return zan.LikerPage{}, err
	}
	if err := checkQuery(&q); err != nil {
		return zan.LikerPage{}, err
	}
	key, cacheable := pageKey(t, q)
	cacheable = cacheable && s.l1.seen(t)
	if cacheable {
		if p, ok := s.l1.page(key); ok {
			return p, nil
		}
	}
	p, err := s.store.Likers(ctx, t, q)
	if err != nil {
		return p, zan.Unavailable("store", err)
	}
	if cacheable {
		s.l1.pages.Set(key, p)
	}
	return p, nil
}

// UserLikes lists what user likes.
func (s *Service) UserLikes(ctx context.Context, user int64, q zan.LikeQuery) (zan.UserLikePage, error) {
	if q.Type != "" && !s.types[q.Type] {
		return zan.UserLikePage{}, zan.Errorf(zan.ENotFound, "unknown target type %q", q.Type)
	}
	if err := checkQuery(&q); err != nil {
		return zan.UserLikePage{}, err
	}
	p, err := s.store.UserLikes(ctx, user, q)
	if err != nil {
		return p, zan.Unavailable("store", err)
	}
	return p, nil
}

// Common lists users who like both a and b.
func (s *Service) Common(ctx context.Context, a, b zan.Target, limit int) ([]int64, error) {
	for _, t := range []zan.Target{a, b} {
		if err := s.CheckTarget(t); err != nil {
			return nil, err
		}
	}
	q := zan.LikeQuery{Limit: limit}
	if err := checkQuery(&q); err != nil {
		return nil, err
	}
	users, err := s.store.CommonLikers(ctx, a, b, q.Limit)
	if err != nil {
		return nil, zan.Unavailable("store", err)
	}
	return users, nil
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
