// Package migrate copies a zan store into another, typically the embedded
// SQLite store into MySQL/MariaDB/TiDB when a deployment scales out.
//
// Users, their identities (sign-ins through other issuers), blogs, shops,
// vouchers, orders and like rows are copied in key
// order, in batches, each batch
// read by keyset from the source and written idempotently to the
// destination: users and blogs that are already there are left alone (blogs
// the source deleted are deleted, identities take the source's state), and
// like rows are applied as events (zan.LikeStore.ApplyLikes), which per
// (user, target) keep the newest state and maintain the counts. A run can
// therefore be interrupted and resumed (from the checkpoint file) or simply
// repeated.
//
// The source may keep serving while it is copied. A row changed behind the
// copy's position is picked up by the next run, and running again converges,
// since every run reapplies the source's current state and only newer states
// win. The switch-over is then:
//
//  1. run migrate while the source serves (the bulk copy);
//  2. stop the writes to the source (stop its nodes);
//  3. run migrate once more: it copies what changed and verifies;
//  4. start the nodes on the destination.
//
// Verification compares the totals (users, blogs, liked rows) and, for every
// target with a stored count in the source, the destination's count. While
// the source still serves, differences are expected; after step 2 there
// must be none.
//
// The online migration needs no such stop: the nodes feed both stores
// (likes through the log, every other table by rows: Router), move the
// record between them with a Switch, and a Verifier and a Sweeper compare
// them meanwhile.
package migrate

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/zanlabs/zan"
)

// Destination is what a migration writes to: *mysql.DB and *sqlite.DB.
type Destination interface {
	zan.Exporter // for verification
	zan.Importer
	ApplyLikes(ctx context.Context, events []zan.Event) (zan.ApplyResult, error)
	LikeCounts(ctx context.Context, ts []zan.Target) ([]int64, error)
	// DeleteBlog drops a blog the source no longer has.
	DeleteBlog(ctx context.Context, id int64) error
}

// Options configure Run.
type Options struct {
	// Batch is the number of rows read and written at a time (default 1000).
	Batch int
	// Checkpoint is a file where the position of the copy is saved after
	// every batch; a run finding one resumes after it. It is removed when
	// the copy completes, so that the next run copies everything again
	// (which converges, see the package documentation). Empty: none.
	Checkpoint string
	// Label names the migration (source and destination) in the
	// checkpoint; a checkpoint with another label is refused.
	Label string
	// VerifyOnly skips the copy.
	VerifyOnly bool
	// MaxDifferences bounds Verification.Differences (default 100).
	MaxDifferences int
	// Progress, when set, is called after every batch.
	Progress func(Progress)
}

// Progress is the state of a running migration.
type Progress struct {
	Phase string // "users", "identities", "blogs", "shops", "vouchers", "orders", "likes" or "verify"
	Done  int64  // rows (targets, in verify) done in this phase, this run
	Total int64  // the source's total for the phase, as counted at the start; likes: liked rows only (tombstones are copied too)
}

// Report says what a run did.
type Report struct {
	Users, Blogs, Likes int64 // rows copied (likes: tombstones included), resumed runs included
	Shops, Vouchers     int64
	Orders              int64
	Identities          int64
	LikesChanged        int64 // like rows whose state the copy changed in the destination
	Resumed             bool  // the run started from a checkpoint
	Elapsed             time.Duration
	Verification        Verification
}

// Verification compares the source and the destination.
type Verification struct {
	SourceUsers, SourceBlogs, SourceLikes int64 // likes: liked rows
	DestUsers, DestBlogs, DestLikes       int64
	SourceShops, SourceVouchers           int64
	SourceOrders                          int64
	DestShops, DestVouchers, DestOrders   int64
	SourceIdentities, DestIdentities      int64
	Targets                               int64    // targets whose counts were compared
	EqualTargets                          int64    // of which equal
	Differences                           []string // the first MaxDifferences differences
	NDifferences                          int64    // all of them, totals included
}

// OK reports whether no difference was found.
func (v Verification) OK() bool { return v.NDifferences == 0 }

// ErrDifferent is returned (wrapped) by Run when verification finds
// differences.
var ErrDifferent = errors.New("migrate: the destination differs from the source")

// phases are the phases of the copy, in order. A checkpoint names one of
// them; the list is the one place that knows them all, so that a phase
// added to the copy is resumable too (the shops, vouchers and orders once
// were not).
var phases = []string{"users", "identities", "blogs", "shops", "vouchers", "orders", "likes"}

// checkpoint is the position of an interrupted copy.
type checkpoint struct {
	Label   string       `json:"label"`
	Phase   string       `json:"phase"`
	User    int64        `json:"user"`
	Blog    int64        `json:"blog"`
	Like    zan.LikeKey  `json:"like"`
	Shop    int64        `json:"shop"`
	Voucher int64        `json:"voucher"`
	Order   int64        `json:"order"`
	Ident   zan.Identity `json:"identity"`
	Idents  int64        `json:"identities"`
	Users   int64        `json:"users"`
	Blogs   int64        `json:"blogs"`
	Shops   int64        `json:"shops"`
	Vouch   int64        `json:"vouchers"`
	Orders  int64        `json:"orders"`
	Likes   int64        `json:"likes"`
	Changed int64        `json:"changed"`
	Saved   time.Time    `json:"saved"`
}

// Run copies src into dst (unless opts.VerifyOnly) and verifies the result.
// The error wraps ErrDifferent when the copy completed but verification
// found differences; the report is complete then.
func Run(ctx context.Context, src zan.Exporter, dst Destination, opts Options) (Report, error) {
	start := time.Now()
	if opts.Batch <= 0 {
		opts.Batch = 1000
	}
	if opts.MaxDifferences <= 0 {
		opts.MaxDifferences = 100
	}
	if opts.Progress == nil {
		opts.Progress = func(Progress) {}
	}
	var rep Report
	if !opts.VerifyOnly {
		if err := runCopy(ctx, src, dst, opts, &rep); err != nil {
			rep.Elapsed = time.Since(start)
			return rep, err
		}
	}
	v, err := Verify(ctx, src, dst, opts)
	rep.Verification = v
	rep.Elapsed = time.Since(start)
	if err != nil {
		return rep, err
	}
	if !v.OK() {
		return rep, fmt.Errorf("%w: %d differences", ErrDifferent, v.NDifferences)
	}
	return rep, nil
}

func runCopy(ctx context.Context, src zan.Exporter, dst Destination, opts Options, rep *Report) error {
	cp, err := loadCheckpoint(opts.Checkpoint)
	if err != nil {
		return err
	}
	if cp != nil {
		if cp.Label != opts.Label {
			return fmt.Errorf("migrate: checkpoint %s is for %q, not %q: remove it to start over",
				opts.Checkpoint, cp.Label, opts.Label)
		}
		rep.Resumed = true
	} else {
		cp = &checkpoint{Label: opts.Label, Phase: phases[0]}
	}
	defer func() {
		rep.Users, rep.Blogs, rep.Likes, rep.LikesChanged = cp.Users, cp.Blogs, cp.Likes, cp.Changed
		rep.Shops, rep.Vouchers, rep.Orders, rep.Identities = cp.Shops, cp.Vouch, cp.Orders, cp.Idents
	}()

	users, blogs, likes, err := src.CountTotals(ctx)
	if err != nil {
		return fmt.Errorf("migrate: counting the source: %w", err)
	}
	shops, vouchers, orders, err := src.CountShopTotals(ctx)
	if err != nil {
		return fmt.Errorf("migrate: counting the source: %w", err)
	}
	idents, err := src.CountIdentities(ctx)
	if err != nil {
		return fmt.Errorf("migrate: counting the source: %w", err)
	}
	save := func() error { return saveCheckpoint(opts.Checkpoint, cp) }
	byID := func(phase string, after, copied *int64, total int64, step func(after int64) (n int, last int64, err error)) error {
		var done int64
		for {
			n, last, err := step(*after)
			if err != nil {
				return fmt.Errorf("migrate: %s after %d: %w", phase, *after, err)
			}
			if n == 0 {
				return nil
			}
			*after = last
			*copied += int64(n)
			done += int64(n)
			if err := save(); err != nil {
				return err
			}
			opts.Progress(Progress{phase, done, total})
		}
	}

	if cp.Phase == "users" {
		if err := byID("users", &cp.User, &cp.Users, users, func(after int64) (int, int64, error) {
			return copyRows(ctx, opts.Batch, after, src.ExportUsers, dst.ImportUsers, func(u zan.User) int64 { return u.ID })
		}); err != nil {
			return err
		}
		cp.Phase = "identities"
	}
	if cp.Phase == "identities" {
		// After the users: an identity is imported with its user there.
		var done int64
		for {
			ids, err := src.ExportIdentities(ctx, cp.Ident, opts.Batch)
			if err != nil {
				return fmt.Errorf("migrate: reading identities after %s %s: %w", cp.Ident.Issuer, cp.Ident.Subject, err)
			}
			if len(ids) > 0 {
				if err := retry(ctx, func() error { return dst.ImportIdentities(ctx, ids) }); err != nil {
					return fmt.Errorf("migrate: writing identities after %s %s: %w", cp.Ident.Issuer, cp.Ident.Subject, err)
				}
			}
			type key struct{ issuer, subject string }
			err = prune(ctx, opts.Batch, cp.Ident, ids, func(id zan.Identity) key { return key{id.Issuer, id.Subject} },
				func(a, b zan.Identity) int {
					return cmp.Or(cmp.Compare(a.Issuer, b.Issuer), cmp.Compare(a.Subject, b.Subject))
				},
				dst.ExportIdentities, func(id zan.Identity) error { return dst.DropIdentity(ctx, id.Issuer, id.Subject) })
			if err != nil {
				return fmt.Errorf("migrate: removing unlinked identities after %s %s: %w", cp.Ident.Issuer, cp.Ident.Subject, err)
			}
			if len(ids) == 0 {
				break
			}
			last := ids[len(ids)-1]
			cp.Ident = zan.Identity{Issuer: last.Issuer, Subject: last.Subject}
			cp.Idents += int64(len(ids))
			done += int64(len(ids))
			if err := save(); err != nil {
				return err
			}
			opts.Progress(Progress{"identities", done, idents})
		}
		cp.Phase = "blogs"
	}
	if cp.Phase == "blogs" {
		if err := byID("blogs", &cp.Blog, &cp.Blogs, blogs, func(after int64) (int, int64, error) {
			bs, err := src.ExportBlogs(ctx, after, opts.Batch)
			if err == nil && len(bs) > 0 {
				err = retry(ctx, func() error { return dst.ImportBlogs(ctx, bs) })
			}
			if err == nil {
				err = prune(ctx, opts.Batch, zan.Blog{ID: after}, bs, func(b zan.Blog) int64 { return b.ID },
					func(a, b zan.Blog) int { return cmp.Compare(a.ID, b.ID) },
					func(ctx context.Context, after zan.Blog, n int) ([]zan.Blog, error) {
						return dst.ExportBlogs(ctx, after.ID, n)
					},
					func(b zan.Blog) error { return dst.DeleteBlog(ctx, b.ID) })
			}
			if err != nil || len(bs) == 0 {
				return 0, after, err
			}
			return len(bs), bs[len(bs)-1].ID, nil
		}); err != nil {
			return err
		}
		cp.Phase = "shops"
	}
	if cp.Phase == "shops" {
		if err := byID("shops", &cp.Shop, &cp.Shops, shops, func(after int64) (int, int64, error) {
			return copyRows(ctx, opts.Batch, after, src.ExportShops, dst.ImportShops, func(s zan.Shop) int64 { return s.ID })
		}); err != nil {
			return err
		}
		cp.Phase = "vouchers"
	}
	if cp.Phase == "vouchers" {
		if err := byID("vouchers", &cp.Voucher, &cp.Vouch, vouchers, func(after int64) (int, int64, error) {
			return copyRows(ctx, opts.Batch, after, src.ExportVouchers, dst.ImportVouchers, func(v zan.Voucher) int64 { return v.ID })
		}); err != nil {
			return err
		}
		cp.Phase = "orders"
	}
	if cp.Phase == "orders" {
		if err := byID("orders", &cp.Order, &cp.Orders, orders, func(after int64) (int, int64, error) {
			return copyRows(ctx, opts.Batch, after, src.ExportOrders, dst.ImportOrders, func(o zan.VoucherOrder) int64 { return o.ID })
		}); err != nil {
			return err
		}
		cp.Phase = "likes"
	}
	if cp.Phase == "likes" {
		var done int64
		for {
			evs, err := src.ExportLikes(ctx, cp.Like, opts.Batch)
			if err != nil {
				return fmt.Errorf("migrate: reading likes after %v: %w", cp.Like, err)
			}
			if len(evs) == 0 {
				break
			}
			var res zan.ApplyResult
			err = retry(ctx, func() (err error) {
				res, err = dst.ApplyLikes(ctx, evs)
				return err
			})
			if err != nil {
				return fmt.Errorf("migrate: writing likes after %v: %w", cp.Like, err)
			}
			cp.Like = evs[len(evs)-1].Key()
			cp.Likes += int64(len(evs))
			cp.Changed += int64(res.Changed)
			done += int64(len(evs))
			if err := save(); err != nil {
				return err
			}
			opts.Progress(Progress{"likes", done, likes})
		}
		cp.Phase = "done"
	}
	// The copy is complete: the next run starts from the beginning.
	if opts.Checkpoint != "" {
		if err := os.Remove(opts.Checkpoint); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("migrate: removing the checkpoint: %w", err)
		}
	}
	return nil
}

// copyRows reads one batch of rows after the id and writes it; it returns
// how many there were and the last one's id.
func copyRows[T any](ctx context.Context, batch int, after int64,
	read func(context.Context, int64, int) ([]T, error), write func(context.Context, []T) error, id func(T) int64) (int, int64, error) {
	rows, err := read(ctx, after, batch)
	if err != nil || len(rows) == 0 {
		return 0, after, err
	}
	if err := retry(ctx, func() error { return write(ctx, rows) }); err != nil {
		return 0, after, err
	}
	return len(rows), id(rows[len(rows)-1]), nil
}

// prune deletes the destination's rows in the range of keys the source's
// batch src (after the key) covers, to the end when src is empty, that are
// not in src: the source deleted them (blogs) or unlinked them
// (identities), and a copy run again converges on the source. The source's
// rows of the range were just copied, so the destination has every one
// of them; what else it has there is gone from the source.
func prune[T any, K comparable](ctx context.Context, batch int, after T, src []T, key func(T) K, cmp func(a, b T) int,
	list func(ctx context.Context, after T, limit int) ([]T, error), del func(T) error) error {
	keep := make(map[K]bool, len(src))
	for _, r := range src {
		keep[key(r)] = true
	}
	for {
		got, err := list(ctx, after, batch)
		if err != nil {
			return err
		}
		for _, r := range got {
			if len(src) > 0 && cmp(r, src[len(src)-1]) > 0 {
				return nil
			}
			if !keep[key(r)] {
				if err := retry(ctx, func() error { return del(r) }); err != nil {
					return err
				}
			}
		}
		if len(got) < batch {
			return nil
		}
		after = got[len(got)-1]
	}
}

// retry runs f again, a few times with growing pauses, while the store
// reports it is unavailable (a restart, a lost connection).
func retry(ctx context.Context, f func() error) error {
	for attempt := 1; ; attempt++ {
		err := f()
		if err == nil || zan.ErrorCode(err) != zan.EUnavailable || attempt == 5 {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(attempt*attempt) * 200 * time.Millisecond):
		}
	}
}

func loadCheckpoint(path string) (*checkpoint, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("migrate: checkpoint: %w", err)
	}
	var cp checkpoint
	if err := json.Unmarshal(b, &cp); err != nil {
		return nil, fmt.Errorf("migrate: checkpoint %s: %w", path, err)
	}
	if !slices.Contains(phases, cp.Phase) {
		return nil, fmt.Errorf("migrate: checkpoint %s: phase %q: remove it to start over", path, cp.Phase)
	}
	return &cp, nil
}

// saveCheckpoint replaces the file atomically: a crash leaves the old
// position or the new one, never half a file.
func saveCheckpoint(path string, cp *checkpoint) error {
	if path == "" {
		return nil
	}
	cp.Saved = time.Now().UTC()
	b, err := json.Marshal(cp)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("migrate: checkpoint: %w", err)
	}
	_, err = tmp.Write(append(b, '\n'))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("migrate: checkpoint: %w", err)
	}
	return nil
}

// Verify compares src and dst: the totals, and the count of every target
// that has a stored count in the source. The destination's counts are
// rebuilt from the copied rows, so a source count that had drifted from its
// rows (what zan reconcile repairs) shows as a difference too.
func Verify(ctx context.Context, src zan.Exporter, dst Destination, opts Options) (Verification, error) {
	if opts.Batch <= 0 {
		opts.Batch = 1000
	}
	if opts.MaxDifferences <= 0 {
		opts.MaxDifferences = 100
	}
	var v Verification
	diff := func(format string, args ...any) {
		v.NDifferences++
		if len(v.Differences) < opts.MaxDifferences {
			v.Differences = append(v.Differences, fmt.Sprintf(format, args...))
		}
	}
	var err error
	if v.SourceUsers, v.SourceBlogs, v.SourceLikes, err = src.CountTotals(ctx); err != nil {
		return v, fmt.Errorf("migrate: counting the source: %w", err)
	}
	if v.DestUsers, v.DestBlogs, v.DestLikes, err = dst.CountTotals(ctx); err != nil {
		return v, fmt.Errorf("migrate: counting the destination: %w", err)
	}
	if v.SourceShops, v.SourceVouchers, v.SourceOrders, err = src.CountShopTotals(ctx); err != nil {
		return v, fmt.Errorf("migrate: counting the source: %w", err)
	}
	if v.DestShops, v.DestVouchers, v.DestOrders, err = dst.CountShopTotals(ctx); err != nil {
		return v, fmt.Errorf("migrate: counting the destination: %w", err)
	}
	if v.SourceIdentities, err = src.CountIdentities(ctx); err != nil {
		return v, fmt.Errorf("migrate: counting the source: %w", err)
	}
	if v.DestIdentities, err = dst.CountIdentities(ctx); err != nil {
		return v, fmt.Errorf("migrate: counting the destination: %w", err)
	}
	for _, c := range []struct {
		what     string
		src, dst int64
	}{{"users", v.SourceUsers, v.DestUsers}, {"blogs", v.SourceBlogs, v.DestBlogs}, {"liked rows", v.SourceLikes, v.DestLikes},
		{"shops", v.SourceShops, v.DestShops}, {"vouchers", v.SourceVouchers, v.DestVouchers}, {"orders", v.SourceOrders, v.DestOrders},
		{"identities", v.SourceIdentities, v.DestIdentities}} {
		if c.src != c.dst {
			diff("%s: source %d, destination %d", c.what, c.src, c.dst)
		}
	}

	var after zan.Target
	for {
		cs, err := src.ExportCounts(ctx, after, opts.Batch)
		if err != nil {
			return v, fmt.Errorf("migrate: reading counts after %v: %w", after, err)
		}
		if len(cs) == 0 {
			return v, nil
		}
		ts := make([]zan.Target, len(cs))
		for i, c := range cs {
			ts[i] = c.Target
		}
		var got []int64
		err = retry(ctx, func() (err error) {
			got, err = dst.LikeCounts(ctx, ts)
			return err
		})
		if err != nil {
			return v, fmt.Errorf("migrate: reading the destination's counts: %w", err)
		}
		for i, c := range cs {
			v.Targets++
			if got[i] == c.Count {
				v.EqualTargets++
			} else {
				diff("count of %v: source %d, destination %d", c.Target, c.Count, got[i])
			}
		}
		after = cs[len(cs)-1].Target
		opts.Progress(Progress{"verify", v.Targets, 0})
	}
}
