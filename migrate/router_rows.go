package migrate

import (
	"context"
	"time"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/metrics"
)

// The tables other than likes are not in the log: the Router writes them
// into the record (the source until PhaseWrites, the destination from
// then) and, once the write succeeded, copies the rows it touched, by
// key, from the record to the other store. Ids are made by the nodes
// (time-ordered, with node bits), so a row copied with its id collides
// with none. The copy is best-effort: a failure is counted and left to
// the Sweeper, never the request's. Writes hold the Switch's fence from
// choosing the record until their copy is done, so a change of the
// record waits for them, and holds the writes after it until every node
// has seen the change: no row is written into both stores by two nodes.
// Reads of these tables are the record's. In PhaseRetired the source is
// neither read nor written.

// touch names rows a write changed: those of table whose columns by
// equal one of keys. Table "remaining" recounts vouchers' remaining stock
// (keys: voucher ids) from the orders the other store holds.
type touch struct {
	table string
	by    []string
	keys  [][]any
}

// rowCopyTimeout bounds the copy after a write: it holds the fence.
const rowCopyTimeout = 2 * time.Second

// rows is the store rows are read from now.
func (r *Router) rows() zan.Store {
	rec, _, _ := r.rowStores(r.Switch.State())
	return rec
}

// rowStores returns the record of rows under st and the store its writes
// are copied to (nil: none).
func (r *Router) rowStores(st State) (rec zan.Store, other RowStore, recRows RowStore) {
	if r.srcRows == nil || r.dstRows == nil {
		// Not SQL stores (tests): the source keeps the rows.
		return r.Store, nil, nil
	}
	switch st.Phase {
	case PhaseRetired:
		return r.Dest, nil, r.dstRows
	case PhaseWrites:
		return r.Dest, r.srcRows, r.dstRows
	}
	return r.Store, r.dstRows, r.srcRows
}

// writeRows runs do on the record and copies the rows it touched to the
// other store.
func writeRows[T any](r *Router, ctx context.Context, do func(zan.Store) (T, error), touched func(T) []touch) (T, error) {
	st, done := r.Switch.write()
	defer done()
	rec, other, from := r.rowStores(st)
	v, err := do(rec)
	if err != nil || other == nil {
		return v, err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rowCopyTimeout)
	defer cancel()
	result := "ok"
	if err := r.copyRows(ctx, from, other, touched(v)); err != nil {
		result = "failed"
		r.logger().Debug("copying rows to the other store", "err", err)
	}
	metrics.MigrationRowCopies.WithLabelValues(result).Inc()
	return v, nil
}

func (r *Router) copyRows(ctx context.Context, from, to RowStore, ts []touch) error {
	for _, t := range ts {
		if t.table == "remaining" {
			vs := make([]int64, len(t.keys))
			for i, k := range t.keys {
				vs[i] = k[0].(int64)
			}
			if err := to.RecountRemaining(ctx, vs); err != nil {
				return err
			}
			continue
		}
		if _, err := r.copier.sync(ctx, from, to, t.table, t.by, t.keys); err != nil {
			return err
		}
	}
	return nil
}

// write1 is writeRows for writes that return only an error.
func write1(r *Router, ctx context.Context, do func(zan.Store) error, ts ...touch) error {
	_, err := writeRows(r, ctx, func(s zan.Store) (struct{}, error) { return struct{}{}, do(s) },
		func(struct{}) []touch { return ts })
	return err
}

func byID(table string, vs ...int64) touch { return touch{table, []string{"id"}, ids(vs...)} }

func byCol(table, col string, vs ...int64) touch { return touch{table, []string{col}, ids(vs...)} }

// EnsureUser implements zan.UserStore.
func (r *Router) EnsureUser(ctx context.Context, u zan.User) (zan.User, error) {
	return writeRows(r, ctx, func(s zan.Store) (zan.User, error) { return s.EnsureUser(ctx, u) },
		func(u zan.User) []touch { return []touch{byID("users", u.ID)} })
}

// User implements zan.UserStore.
func (r *Router) User(ctx context.Context, id int64) (zan.User, error) { return r.rows().User(ctx, id) }

// Users implements zan.UserStore.
func (r *Router) Users(ctx context.Context, ids []int64) (map[int64]zan.User, error) {
	return r.rows().Users(ctx, ids)
}

// SetNickname implements zan.UserStore.
func (r *Router) SetNickname(ctx context.Context, user int64, nickname string) error {
	return write1(r, ctx, func(s zan.Store) error { return s.SetNickname(ctx, user, nickname) }, byID("users", user))
}

// SetAvatar implements zan.UserStore.
func (r *Router) SetAvatar(ctx context.Context, user int64, avatar int) error {
	return write1(r, ctx, func(s zan.Store) error { return s.SetAvatar(ctx, user, avatar) }, byID("users", user))
}

// EnsureIdentityUser implements zan.IdentityStore.
func (r *Router) EnsureIdentityUser(ctx context.Context, id zan.Identity, u zan.User) (zan.User, error) {
	return writeRows(r, ctx, func(s zan.Store) (zan.User, error) { return s.EnsureIdentityUser(ctx, id, u) },
		func(u zan.User) []touch {
			return []touch{byID("users", u.ID), byCol("identities", "user_id", u.ID)}
		})
}

// LinkIdentity implements zan.IdentityStore.
func (r *Router) LinkIdentity(ctx context.Context, id zan.Identity) error {
	return write1(r, ctx, func(s zan.Store) error { return s.LinkIdentity(ctx, id) }, byCol("identities", "user_id", id.UserID))
}

// Identities implements zan.IdentityStore.
func (r *Router) Identities(ctx context.Context, user int64) ([]zan.Identity, error) {
	return r.rows().Identities(ctx, user)
}

// UnlinkIdentity implements zan.IdentityStore.
func (r *Router) UnlinkIdentity(ctx context.Context, user int64, issuer string) error {
	return write1(r, ctx, func(s zan.Store) error { return s.UnlinkIdentity(ctx, user, issuer) }, byCol("identities", "user_id", user))
}

// CreateBlog implements zan.BlogStore.
func (r *Router) CreateBlog(ctx context.Context, b zan.Blog) (zan.Blog, error) {
	return writeRows(r, ctx, func(s zan.Store) (zan.Blog, error) { return s.CreateBlog(ctx, b) },
		func(b zan.Blog) []touch { return []touch{byID("blogs", b.ID)} })
}

// Blog implements zan.BlogStore.
func (r *Router) Blog(ctx context.Context, id int64) (zan.Blog, error) { return r.rows().Blog(ctx, id) }

// BlogByKey implements zan.BlogStore.
func (r *Router) BlogByKey(ctx context.Context, author int64, key string) (zan.Blog, error) {
	return r.rows().BlogByKey(ctx, author, key)
}

// UpdateBlog implements zan.BlogStore.
func (r *Router) UpdateBlog(ctx context.Context, b zan.Blog) error {
	return write1(r, ctx, func(s zan.Store) error { return s.UpdateBlog(ctx, b) }, byID("blogs", b.ID))
}

// DeleteBlog implements zan.BlogStore.
func (r *Router) DeleteBlog(ctx context.Context, id int64) error {
	return write1(r, ctx, func(s zan.Store) error { return s.DeleteBlog(ctx, id) },
		byCol("blog_photos", "blog_id", id), byID("blogs", id))
}

// Blogs implements zan.BlogStore.
func (r *Router) Blogs(ctx context.Context, f zan.BlogFilter) (zan.BlogPage, error) {
	return r.rows().Blogs(ctx, f)
}

// BlogTitles implements zan.BlogStore.
func (r *Router) BlogTitles(ctx context.Context, ids []int64) (map[int64]string, error) {
	return r.rows().BlogTitles(ctx, ids)
}

// CreatePhoto implements zan.PhotoStore.
func (r *Router) CreatePhoto(ctx context.Context, p zan.Photo) error {
	return write1(r, ctx, func(s zan.Store) error { return s.CreatePhoto(ctx, p) }, byID("photos", p.ID))
}

// Photos implements zan.PhotoStore.
func (r *Router) Photos(ctx context.Context, ids []int64) (map[int64]zan.Photo, error) {
	return r.rows().Photos(ctx, ids)
}

// SetBlogPhotos implements zan.PhotoStore.
func (r *Router) SetBlogPhotos(ctx context.Context, blog int64, photos []int64) error {
	return write1(r, ctx, func(s zan.Store) error { return s.SetBlogPhotos(ctx, blog, photos) }, byCol("blog_photos", "blog_id", blog))
}

// BlogPhotos implements zan.PhotoStore.
func (r *Router) BlogPhotos(ctx context.Context, blogs []int64) (map[int64][]zan.Photo, error) {
	return r.rows().BlogPhotos(ctx, blogs)
}

// CreateShop implements zan.ShopStore.
func (r *Router) CreateShop(ctx context.Context, s zan.Shop) error {
	return write1(r, ctx, func(st zan.Store) error { return st.CreateShop(ctx, s) }, byID("shops", s.ID))
}

// UpdateShop implements zan.ShopStore.
func (r *Router) UpdateShop(ctx context.Context, s zan.Shop) error {
	return write1(r, ctx, func(st zan.Store) error { return st.UpdateShop(ctx, s) }, byID("shops", s.ID))
}

// Shop implements zan.ShopStore.
func (r *Router) Shop(ctx context.Context, id int64) (zan.Shop, error) { return r.rows().Shop(ctx, id) }

// Shops implements zan.ShopStore.
func (r *Router) Shops(ctx context.Context, f zan.ShopFilter) (zan.ShopPage, error) {
	return r.rows().Shops(ctx, f)
}

// NearbyShops implements zan.ShopStore.
func (r *Router) NearbyShops(ctx context.Context, q zan.NearbyQuery) (zan.NearbyPage, error) {
	return r.rows().NearbyShops(ctx, q)
}

// ShopIDs implements zan.ShopStore.
func (r *Router) ShopIDs(ctx context.Context, fn func(ids []int64) error) error {
	return r.rows().ShopIDs(ctx, fn)
}

// CreateVoucher implements zan.VoucherStore.
func (r *Router) CreateVoucher(ctx context.Context, v zan.Voucher) error {
	return write1(r, ctx, func(s zan.Store) error { return s.CreateVoucher(ctx, v) }, byID("vouchers", v.ID))
}

// Voucher implements zan.VoucherStore.
func (r *Router) Voucher(ctx context.Context, id int64) (zan.Voucher, error) {
	return r.rows().Voucher(ctx, id)
}

// ShopVouchers implements zan.VoucherStore.
func (r *Router) ShopVouchers(ctx context.Context, shopID int64) ([]zan.Voucher, error) {
	return r.rows().ShopVouchers(ctx, shopID)
}

// ApplyOrders implements zan.VoucherStore. The orders are copied, and the
// other store's remaining stock recounted from the orders it holds: a
// counter copied by two nodes at once could land in either order, the
// orders cannot.
func (r *Router) ApplyOrders(ctx context.Context, orders []zan.VoucherOrder) ([]zan.OrderOutcome, error) {
	return writeRows(r, ctx, func(s zan.Store) ([]zan.OrderOutcome, error) { return s.ApplyOrders(ctx, orders) },
		func([]zan.OrderOutcome) []touch {
			var os, vs []int64
			seen := map[int64]bool{}
			for _, o := range orders {
				os = append(os, o.ID)
				if !seen[o.VoucherID] {
					seen[o.VoucherID] = true
					vs = append(vs, o.VoucherID)
				}
			}
			return []touch{byID("orders", os...), byID("remaining", vs...)}
		})
}

// Order implements zan.VoucherStore.
func (r *Router) Order(ctx context.Context, id int64) (zan.VoucherOrder, error) {
	return r.rows().Order(ctx, id)
}

// UserOrders implements zan.VoucherStore.
func (r *Router) UserOrders(ctx context.Context, user int64, limit int, after *zan.Cursor) (zan.UserOrderPage, error) {
	return r.rows().UserOrders(ctx, user, limit, after)
}

// VoucherBuyers implements zan.VoucherStore.
func (r *Router) VoucherBuyers(ctx context.Context, voucherID int64, fn func(users []int64) error) error {
	return r.rows().VoucherBuyers(ctx, voucherID, fn)
}

// ApplyLikeNotices implements zan.NotificationStore: the recipients'
// inboxes and unread counts, and the notified targets' actors, are
// copied.
func (r *Router) ApplyLikeNotices(ctx context.Context, notices []zan.LikeNotice) (map[int64]int64, error) {
	return writeRows(r, ctx, func(s zan.Store) (map[int64]int64, error) { return s.ApplyLikeNotices(ctx, notices) },
		func(map[int64]int64) []touch {
			var users []int64
			var targets [][]any
			seenU, seenT := map[int64]bool{}, map[zan.Target]bool{}
			for _, n := range notices {
				if !seenU[n.Recipient] {
					seenU[n.Recipient] = true
					users = append(users, n.Recipient)
				}
				if !seenT[n.Target] {
					seenT[n.Target] = true
					targets = append(targets, []any{n.Target.Type, n.Target.ID})
				}
			}
			return []touch{
				byCol("notifications", "user_id", users...),
				{"notification_actors", []string{"target_type", "target_id"}, targets},
				byCol("notification_unread", "user_id", users...),
			}
		})
}

// Notifications implements zan.NotificationStore.
func (r *Router) Notifications(ctx context.Context, user int64, limit int, after *zan.Cursor) (zan.NotificationPage, error) {
	return r.rows().Notifications(ctx, user, limit, after)
}

// UnreadNotifications implements zan.NotificationStore.
func (r *Router) UnreadNotifications(ctx context.Context, user int64) (int64, error) {
	return r.rows().UnreadNotifications(ctx, user)
}

// MarkNotificationsRead implements zan.NotificationStore.
func (r *Router) MarkNotificationsRead(ctx context.Context, user int64, ids []int64, all bool, now time.Time) (int64, error) {
	return writeRows(r, ctx, func(s zan.Store) (int64, error) { return s.MarkNotificationsRead(ctx, user, ids, all, now) },
		func(int64) []touch {
			return []touch{byCol("notifications", "user_id", user), byCol("notification_unread", "user_id", user)}
		})
}

// PruneNotifications implements zan.NotificationStore: the other store is
// pruned the same way (what a prune deletes is old and read in both),
// and what it missed is the sweep's.
func (r *Router) PruneNotifications(ctx context.Context, readBefore time.Time) (int, error) {
	st, done := r.Switch.write()
	defer done()
	rec, other, _ := r.rowStores(st)
	n, err := rec.PruneNotifications(ctx, readBefore)
	if err == nil && other != nil {
		if _, err := other.PruneNotifications(ctx, readBefore); err != nil {
			metrics.MigrationRowCopies.WithLabelValues("failed").Inc()
		}
	}
	return n, err
}

// CreateWebhook implements zan.WebhookStore.
func (r *Router) CreateWebhook(ctx context.Context, w zan.Webhook) error {
	return write1(r, ctx, func(s zan.Store) error { return s.CreateWebhook(ctx, w) }, byID("webhooks", w.ID))
}

// Webhooks implements zan.WebhookStore.
func (r *Router) Webhooks(ctx context.Context) ([]zan.Webhook, error) { return r.rows().Webhooks(ctx) }

// DeleteWebhook implements zan.WebhookStore.
func (r *Router) DeleteWebhook(ctx context.Context, id int64) error {
	return write1(r, ctx, func(s zan.Store) error { return s.DeleteWebhook(ctx, id) }, byID("webhooks", id))
}

func deadKeys(endpoint string, eventIDs []string) touch {
	keys := make([][]any, len(eventIDs))
	for i, e := range eventIDs {
		keys[i] = []any{endpoint, e}
	}
	return touch{"webhook_dead", []string{"endpoint", "event_id"}, keys}
}

// AddWebhookDead implements zan.WebhookStore.
func (r *Router) AddWebhookDead(ctx context.Context, ds []zan.WebhookDead) error {
	t := touch{"webhook_dead", []string{"endpoint", "event_id"}, nil}
	for _, d := range ds {
		t.keys = append(t.keys, []any{d.Endpoint, d.Event.ID})
	}
	return write1(r, ctx, func(s zan.Store) error { return s.AddWebhookDead(ctx, ds) }, t)
}

// WebhookDeadLetters implements zan.WebhookStore.
func (r *Router) WebhookDeadLetters(ctx context.Context, endpoint string, limit int) ([]zan.WebhookDead, error) {
	return r.rows().WebhookDeadLetters(ctx, endpoint, limit)
}

// DeleteWebhookDead implements zan.WebhookStore.
func (r *Router) DeleteWebhookDead(ctx context.Context, endpoint string, eventIDs []string) error {
	return write1(r, ctx, func(s zan.Store) error { return s.DeleteWebhookDead(ctx, endpoint, eventIDs) }, deadKeys(endpoint, eventIDs))
}

func bySession(h [32]byte) touch {
	return touch{"sessions", []string{"token_hash"}, [][]any{{h[:]}}}
}

// CreateSession implements zan.SessionStore.
func (r *Router) CreateSession(ctx context.Context, s zan.Session) error {
	return write1(r, ctx, func(st zan.Store) error { return st.CreateSession(ctx, s) }, bySession(s.TokenHash))
}

// Session implements zan.SessionStore.
func (r *Router) Session(ctx context.Context, hash [32]byte) (zan.Session, error) {
	return r.rows().Session(ctx, hash)
}

// TouchSession implements zan.SessionStore.
func (r *Router) TouchSession(ctx context.Context, hash [32]byte, expiresAt time.Time) error {
	return write1(r, ctx, func(st zan.Store) error { return st.TouchSession(ctx, hash, expiresAt) }, bySession(hash))
}

// DeleteSession implements zan.SessionStore.
func (r *Router) DeleteSession(ctx context.Context, hash [32]byte) error {
	return write1(r, ctx, func(st zan.Store) error { return st.DeleteSession(ctx, hash) }, bySession(hash))
}

// DeleteExpiredSessions implements zan.SessionStore: the other store's
// expired sessions go too; what it missed is the sweep's.
func (r *Router) DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error) {
	st, done := r.Switch.write()
	defer done()
	rec, other, _ := r.rowStores(st)
	n, err := rec.DeleteExpiredSessions(ctx, now)
	if err == nil && other != nil {
		if _, err := other.DeleteExpiredSessions(ctx, now); err != nil {
			metrics.MigrationRowCopies.WithLabelValues("failed").Inc()
		}
	}
	return n, err
}
