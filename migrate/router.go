package migrate

import (
	"context"
	"errors"
	"hash/fnv"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/metrics"
)

// Router is the store the services see during an online migration. Like
// reads go to the source or the destination as the Switch says: a share
// of them by a hash of the target (or user), so one target's reads come
// from one store; in PhaseReads each read is also asked of the other
// store in the shadow and the answers compared. The other tables are not
// fed by the log: their writes go to the record and are copied to the
// other store row by row (router_rows.go).
//
// Both stores hold every event of a target missing from the hot state,
// because the nodes wait for both persisters (BothApplied) before they
// evict or load; so a read of such a target is right from either.
type Router struct {
	zan.Store // the source
	Dest      zan.Store
	Switch    *Switch
	// Logger is for the copies that fail (nil: slog's default).
	Logger *slog.Logger
	// shadow bounds the comparisons in flight; a read finding it full is
	// not compared (counted as skipped).
	shadow chan struct{}
	// srcRows and dstRows are the stores as RowStores: nil (stores that
	// are not SQL, in tests) keeps every table but likes the source's.
	srcRows, dstRows RowStore
	copier           rowCopier
}

// NewRouter returns the router over src and dst.
func NewRouter(src, dst zan.Store, sw *Switch) *Router {
	r := &Router{Store: src, Dest: dst, Switch: sw, shadow: make(chan struct{}, 8)}
	r.srcRows, _ = src.(RowStore)
	r.dstRows, _ = dst.(RowStore)
	return r
}

func (r *Router) logger() *slog.Logger {
	if r.Logger == nil {
		return slog.Default()
	}
	return r.Logger
}

// shadowTimeout bounds one shadow read.
const shadowTimeout = 2 * time.Second

func targetKey(t zan.Target) uint64 {
	h := fnv.New64a()
	h.Write([]byte(t.Type))
	h.Write([]byte(strconv.FormatInt(t.ID, 10)))
	return h.Sum64()
}

// pick returns the store that answers a read keyed by key, the other one,
// and whether to compare them in the shadow.
func (r *Router) pick(key uint64) (answer, other zan.LikeStore, shadow bool) {
	st := r.Switch.State()
	if int(key%100) < st.DestReads() {
		metrics.MigrationReads.WithLabelValues("destination").Inc()
		return r.Dest, r.Store, st.Phase == PhaseReads
	}
	metrics.MigrationReads.WithLabelValues("source").Inc()
	return r.Store, r.Dest, st.Phase == PhaseReads
}

// compare asks other the same read off the request path and counts
// whether it answered the same. A different answer is expected while one
// persister is behind the other; the verifier tells drift from lag.
func compare[T any](r *Router, ctx context.Context, want T, read func(context.Context) (T, error), eq func(a, b T) bool) {
	select {
	case r.shadow <- struct{}{}:
	default:
		metrics.MigrationShadow.WithLabelValues("skipped").Inc()
		return
	}
	go func() {
		defer func() { <-r.shadow }()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shadowTimeout)
		defer cancel()
		got, err := read(ctx)
		switch {
		case err != nil:
			metrics.MigrationShadow.WithLabelValues("error").Inc()
		case eq(want, got):
			metrics.MigrationShadow.WithLabelValues("equal").Inc()
		default:
			metrics.MigrationShadow.WithLabelValues("different").Inc()
		}
	}()
}

func firstKey(ts []zan.Target) uint64 {
	if len(ts) == 0 {
		return 0
	}
	return targetKey(ts[0])
}

// LikeCounts implements zan.LikeStore.
func (r *Router) LikeCounts(ctx context.Context, ts []zan.Target) ([]int64, error) {
	a, o, sh := r.pick(firstKey(ts))
	v, err := a.LikeCounts(ctx, ts)
	if err == nil && sh {
		compare(r, ctx, v, func(ctx context.Context) ([]int64, error) { return o.LikeCounts(ctx, ts) }, slices.Equal)
	}
	return v, err
}

// Liked implements zan.LikeStore.
func (r *Router) Liked(ctx context.Context, ts []zan.Target, user int64) ([]bool, error) {
	a, o, sh := r.pick(firstKey(ts))
	v, err := a.Liked(ctx, ts, user)
	if err == nil && sh {
		compare(r, ctx, v, func(ctx context.Context) ([]bool, error) { return o.Liked(ctx, ts, user) }, slices.Equal)
	}
	return v, err
}

func sameLikers(a, b zan.LikerPage) bool {
	return slices.EqualFunc(a.Items, b.Items, func(x, y zan.Liker) bool {
		return x.UserID == y.UserID && x.LikedAt.UnixMilli() == y.LikedAt.UnixMilli()
	})
}

// Likers implements zan.LikeStore.
func (r *Router) Likers(ctx context.Context, t zan.Target, q zan.LikeQuery) (zan.LikerPage, error) {
	a, o, sh := r.pick(targetKey(t))
	v, err := a.Likers(ctx, t, q)
	if err == nil && sh {
		compare(r, ctx, v, func(ctx context.Context) (zan.LikerPage, error) { return o.Likers(ctx, t, q) }, sameLikers)
	}
	return v, err
}

func sameUserLikes(a, b zan.UserLikePage) bool {
	return slices.EqualFunc(a.Items, b.Items, func(x, y zan.UserLike) bool {
		return x.Target == y.Target && x.LikedAt.UnixMilli() == y.LikedAt.UnixMilli()
	})
}

// UserLikes implements zan.LikeStore.
func (r *Router) UserLikes(ctx context.Context, user int64, q zan.LikeQuery) (zan.UserLikePage, error) {
	a, o, sh := r.pick(uint64(user))
	v, err := a.UserLikes(ctx, user, q)
	if err == nil && sh {
		compare(r, ctx, v, func(ctx context.Context) (zan.UserLikePage, error) { return o.UserLikes(ctx, user, q) }, sameUserLikes)
	}
	return v, err
}

// CommonLikers implements zan.LikeStore.
func (r *Router) CommonLikers(ctx context.Context, x, y zan.Target, limit int) ([]int64, error) {
	a, o, sh := r.pick(targetKey(x))
	v, err := a.CommonLikers(ctx, x, y, limit)
	if err == nil && sh {
		compare(r, ctx, v, func(ctx context.Context) ([]int64, error) { return o.CommonLikers(ctx, x, y, limit) }, slices.Equal)
	}
	return v, err
}

// LastLikeChange implements zan.LikeStore. A load of t reads it and its
// likers from one store: both go by t.
func (r *Router) LastLikeChange(ctx context.Context, t zan.Target) (int64, error) {
	a, _, _ := r.pick(targetKey(t))
	return a.LastLikeChange(ctx, t)
}

// ScanLikers implements zan.LikeStore.
func (r *Router) ScanLikers(ctx context.Context, t zan.Target, fn func(users []int64) error) error {
	a, _, _ := r.pick(targetKey(t))
	return a.ScanLikers(ctx, t, fn)
}

// Ping checks the source, and the destination once it answers reads: a
// destination down before then must not take the node out of service.
// Once retired, only the destination: the source may be gone.
func (r *Router) Ping(ctx context.Context) error {
	st := r.Switch.State()
	if st.Phase == PhaseRetired {
		return r.Dest.Ping(ctx)
	}
	if st.DestReads() > 0 {
		if err := r.Dest.Ping(ctx); err != nil {
			return err
		}
	}
	return r.Store.Ping(ctx)
}

// RecountLikes implements zan.LikeStore: only the record's counts are
// repaired; a drift of the other store is the verifier's to report.
func (r *Router) RecountLikes(ctx context.Context, t zan.Target) (before, after int64, err error) {
	return r.Record().RecountLikes(ctx, t)
}

// Record is the store that is the record of likes now: the source until
// PhaseWrites, then the destination. Reconciliation compares the hot
// state with it and repairs it.
func (r *Router) Record() zan.LikeStore {
	if r.Switch.State().DestIsRecord() {
		return r.Dest
	}
	return r.Store
}

// RecordView is a LikeStore that follows Record at each call.
func (r *Router) RecordView() zan.LikeStore { return recordView{r} }

type recordView struct{ r *Router }

func (v recordView) ApplyLikes(ctx context.Context, events []zan.Event) (zan.ApplyResult, error) {
	return zan.ApplyResult{}, errors.New("migrate: events reach the stores through their persisters")
}
func (v recordView) LikeCounts(ctx context.Context, ts []zan.Target) ([]int64, error) {
	return v.r.Record().LikeCounts(ctx, ts)
}
func (v recordView) Liked(ctx context.Context, ts []zan.Target, user int64) ([]bool, error) {
	return v.r.Record().Liked(ctx, ts, user)
}
func (v recordView) Likers(ctx context.Context, t zan.Target, q zan.LikeQuery) (zan.LikerPage, error) {
	return v.r.Record().Likers(ctx, t, q)
}
func (v recordView) LastLikeChange(ctx context.Context, t zan.Target) (int64, error) {
	return v.r.Record().LastLikeChange(ctx, t)
}
func (v recordView) ScanLikers(ctx context.Context, t zan.Target, fn func(users []int64) error) error {
	return v.r.Record().ScanLikers(ctx, t, fn)
}
func (v recordView) UserLikes(ctx context.Context, user int64, q zan.LikeQuery) (zan.UserLikePage, error) {
	return v.r.Record().UserLikes(ctx, user, q)
}
func (v recordView) CommonLikers(ctx context.Context, a, b zan.Target, limit int) ([]int64, error) {
	return v.r.Record().CommonLikers(ctx, a, b, limit)
}
func (v recordView) RecountLikes(ctx context.Context, t zan.Target) (before, after int64, err error) {
	return v.r.Record().RecountLikes(ctx, t)
}

// BothApplied is log as the services see it during an online migration:
// WaitApplied returns once both persisters (the log's own and the
// mirror's feed) applied everything published before the call. The hot
// state evicts and loads only past that point, so both stores hold every
// event of a target it does not hold, whichever store answers for it.
func BothApplied(log zan.EventLog, mirror zan.EventFeed) zan.EventLog {
	return bothApplied{log, mirror}
}

type bothApplied struct {
	zan.EventLog
	mirror zan.EventFeed
}

func (b bothApplied) WaitApplied(ctx context.Context) error {
	if err := b.EventLog.WaitApplied(ctx); err != nil {
		return err
	}
	return b.mirror.WaitApplied(ctx)
}

// PrimaryLikes is the store of the log's own persister (the source's):
// the source until PhaseRetired, the destination in it. A node restarted
// onto the destination (--db on it, without --mirror-db) continues from
// the log's own position; every event before that position reached the
// destination, through the mirror before the retirement (the switch to
// retired waits for both persisters) or through this store after it. So
// the nodes may move to the destination in any order.
func (r *Router) PrimaryLikes() zan.LikeStore { return primaryLikes{r.Store, r} }

type primaryLikes struct {
	zan.LikeStore
	r *Router
}

func (p primaryLikes) ApplyLikes(ctx context.Context, events []zan.Event) (zan.ApplyResult, error) {
	if p.r.Switch.State().Phase == PhaseRetired {
		return p.r.Dest.ApplyLikes(ctx, events)
	}
	return p.LikeStore.ApplyLikes(ctx, events)
}
