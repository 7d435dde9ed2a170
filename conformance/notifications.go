package conformance

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/zanlabs/zan"
)

// inbox drives one recipient's inbox through ApplyLikeNotices.
type inbox struct {
	t    *testing.T
	s    zan.Store
	user int64
	mu   sync.Mutex
	next int64
}

func (b *inbox) notice(op zan.Op, tg zan.Target, actor, at int64) zan.LikeNotice {
	b.mu.Lock()
	b.next++
	id := b.user*1_000_000 + b.next
	b.mu.Unlock()
	return zan.LikeNotice{Event: zan.Event{ID: "e" + string(rune('a'+at%26)), Op: op, Target: tg, User: actor, At: at},
		Recipient: b.user, NewID: id}
}

// apply applies notices and checks which recipients it reports changed.
func (b *inbox) apply(changed bool, ns ...zan.LikeNotice) {
	b.t.Helper()
	got, err := b.s.ApplyLikeNotices(b.t.Context(), ns)
	if err != nil {
		b.t.Fatalf("ApplyLikeNotices: %v", err)
	}
	if _, ok := got[b.user]; ok != changed {
		b.t.Fatalf("ApplyLikeNotices %+v: changed %v (%v), want %v", ns, ok, got, changed)
	}
	if changed {
		if n, err := b.s.UnreadNotifications(b.t.Context(), b.user); err != nil || n != got[b.user] {
			b.t.Fatalf("reported unread %d, stored %d, %v", got[b.user], n, err)
		}
	}
}

func (b *inbox) unread(want int64) {
	b.t.Helper()
	if n, err := b.s.UnreadNotifications(b.t.Context(), b.user); err != nil || n != want {
		b.t.Fatalf("UnreadNotifications(%d): %d, %v; want %d", b.user, n, err, want)
	}
}

func (b *inbox) all() []zan.Notification {
	b.t.Helper()
	p, err := b.s.Notifications(b.t.Context(), b.user, 100, nil)
	if err != nil || p.Next != nil {
		b.t.Fatalf("Notifications: %+v, %v", p, err)
	}
	return p.Items
}

// item checks the one item of tg (there must be exactly one).
func (b *inbox) item(tg zan.Target, read bool, count int64, actors ...int64) zan.Notification {
	b.t.Helper()
	var found []zan.Notification
	for _, n := range b.all() {
		if n.Target == tg {
			found = append(found, n)
		}
	}
	if len(found) != 1 {
		b.t.Fatalf("items of %v: %+v, want one", tg, found)
	}
	n := found[0]
	if n.Read != read || n.ActorCount != count || !slices.Equal(n.Actors, actors) || n.Kind != "like" || n.User != b.user {
		b.t.Fatalf("item of %v: %+v; want read %v, %d actors, latest %v", tg, n, read, count, actors)
	}
	return n
}

func (b *inbox) none(tg zan.Target) {
	b.t.Helper()
	for _, n := range b.all() {
		if n.Target == tg {
			b.t.Fatalf("item of %v: %+v, want none", tg, n)
		}
	}
}

func (b *inbox) read(ids []int64, all bool, want int64) {
	b.t.Helper()
	n, err := b.s.MarkNotificationsRead(b.t.Context(), b.user, ids, all, micro(t0+1_000_000))
	if err != nil || n != want {
		b.t.Fatalf("MarkNotificationsRead(%v, %v): %d, %v; want %d", ids, all, n, err, want)
	}
	b.unread(want)
}

func testNotificationsAggregate(t *testing.T, s zan.Store) {
	a := &inbox{t: t, s: s, user: 1}
	blog := zan.Target{Type: "blog", ID: 10}
	a.unread(0)
	a.apply(true, a.notice(zan.OpLike, blog, 2, t0+1))
	a.unread(1)
	a.item(blog, false, 1, 2)
	a.apply(true, a.notice(zan.OpLike, blog, 3, t0+2))
	a.unread(1) // one item per blog
	a.item(blog, false, 2, 3, 2)

	// One's own like, a kept like and a redelivery change nothing.
	a.apply(false, a.notice(zan.OpLike, blog, 1, t0+3))
	kept := a.notice(zan.OpLike, blog, 4, t0+4)
	kept.Kept = true
	a.apply(false, kept)
	a.apply(false, a.notice(zan.OpLike, blog, 2, t0+1), a.notice(zan.OpLike, blog, 3, t0+2))
	a.item(blog, false, 2, 3, 2)

	// Unlikes before the item is read take the actors out; a late older
	// like stays out; the last one out deletes the item.
	a.apply(true, a.notice(zan.OpUnlike, blog, 2, t0+5))
	a.item(blog, false, 1, 3)
	a.apply(false, a.notice(zan.OpLike, blog, 2, t0+1))
	a.item(blog, false, 1, 3)
	a.apply(true, a.notice(zan.OpLike, blog, 2, t0+6)) // back in, latest again
	a.item(blog, false, 2, 2, 3)
	a.apply(true, a.notice(zan.OpUnlike, blog, 2, t0+7), a.notice(zan.OpUnlike, blog, 3, t0+8))
	a.none(blog)
	a.unread(0)
	a.apply(false, a.notice(zan.OpUnlike, blog, 9, t0+9)) // never liked

	// Many actors: the latest few show, all count.
	for i := range int64(6) {
		a.apply(true, a.notice(zan.OpLike, blog, 100+i, t0+20+i))
	}
	a.item(blog, false, 6, 105, 104, 103)
	a.unread(1)

	// Toggles within one batch: only where each actor ends counts.
	a.apply(false, a.notice(zan.OpUnlike, blog, 105, t0+30), a.notice(zan.OpLike, blog, 107, t0+31),
		a.notice(zan.OpLike, blog, 105, t0+32), a.notice(zan.OpUnlike, blog, 107, t0+33))
	a.item(blog, false, 6, 105, 104, 103)
	a.apply(true, a.notice(zan.OpUnlike, blog, 105, t0+34), a.notice(zan.OpLike, blog, 108, t0+35), a.notice(zan.OpLike, blog, 109, t0+36))
	a.item(blog, false, 7, 109, 108, 104)
}

func testNotificationsRead(t *testing.T, s zan.Store) {
	a := &inbox{t: t, s: s, user: 1}
	other := &inbox{t: t, s: s, user: 2}
	blog := zan.Target{Type: "blog", ID: 10}
	a.apply(true, a.notice(zan.OpLike, blog, 5, t0+1))
	n := a.item(blog, false, 1, 5)
	other.read([]int64{n.ID}, false, 0) // not theirs
	a.unread(1)
	a.read([]int64{n.ID, 999}, false, 0)
	a.item(blog, true, 1, 5)
	a.read([]int64{n.ID}, false, 0) // again

	// Toggling a like that was seen tells nothing new.
	a.apply(false, a.notice(zan.OpUnlike, blog, 5, t0+2))
	a.apply(false, a.notice(zan.OpLike, blog, 5, t0+3))
	a.item(blog, true, 1, 5)
	a.unread(0)

	// A new actor opens a new unread item beside the read one, newest first.
	a.apply(true, a.notice(zan.OpLike, blog, 6, t0+4))
	items := a.all()
	if len(items) != 2 || items[0].Read || !items[1].Read || items[0].ActorCount != 1 || items[0].Actors[0] != 6 {
		t.Fatalf("items after a new like of a read blog: %+v", items)
	}
	a.unread(1)

	blog2 := zan.Target{Type: "blog", ID: 11}
	a.apply(true, a.notice(zan.OpLike, blog2, 7, t0+5))
	a.unread(2)
	a.read(nil, true, 0)
	for _, n := range a.all() {
		if !n.Read {
			t.Fatalf("after reading all: %+v", n)
		}
	}
	a.read(nil, false, 0)
	other.read(nil, true, 0)

	// Pruning: read items go, unread ones stay.
	a.apply(true, a.notice(zan.OpLike, blog2, 8, t0+6))
	deleted, err := s.PruneNotifications(t.Context(), micro(t0+2_000_000))
	if err != nil || deleted != 3 {
		t.Fatalf("PruneNotifications: %d, %v; want 3", deleted, err)
	}
	if items := a.all(); len(items) != 1 || items[0].Target != blog2 || items[0].Read {
		t.Fatalf("after pruning: %+v", items)
	}
	a.unread(1)
}

// testNotificationsPruneSteps prunes more rows than one step of a store
// that prunes in steps takes (the SQL stores' suites lower the step), over
// two target types, and checks the policy of PruneNotifications: items
// read before the cut go, others stay; the memory of actors older than the
// cut goes unless an unread item holds it.
func testNotificationsPruneSteps(t *testing.T, s zan.Store) {
	a := &inbox{t: t, s: s, user: 1}
	blog := func(i int64) zan.Target { return zan.Target{Type: "blog", ID: 100 + i} }
	photo := func(i int64) zan.Target { return zan.Target{Type: "photo", ID: 100 + i} }
	for i := range int64(8) {
		a.apply(true, a.notice(zan.OpLike, blog(i), 10, t0+i), a.notice(zan.OpLike, blog(i), 11, t0+i))
	}
	for i := range int64(5) {
		a.apply(true, a.notice(zan.OpLike, photo(i), 12, t0+20+i))
	}
	a.apply(false, a.notice(zan.OpUnlike, blog(0), 13, t0+50)) // memory of an actor without an item
	// A recent like and unlike: the item goes, the actor's memory stays.
	a.apply(true, a.notice(zan.OpLike, blog(0), 14, t0+3_000_000))
	a.apply(true, a.notice(zan.OpUnlike, blog(0), 14, t0+3_000_001))
	a.unread(13)

	// Read: blogs 0-3 and photos 0-3 long ago, blogs 4-5 lately; blogs 6-7
	// and photo 4 stay unread.
	idOf := map[zan.Target]int64{}
	for _, n := range a.all() {
		idOf[n.Target] = n.ID
	}
	a.read([]int64{idOf[blog(0)], idOf[blog(1)], idOf[blog(2)], idOf[blog(3)],
		idOf[photo(0)], idOf[photo(1)], idOf[photo(2)], idOf[photo(3)]}, false, 5)
	if n, err := s.MarkNotificationsRead(t.Context(), 1, []int64{idOf[blog(4)], idOf[blog(5)]}, false, micro(t0+3_000_000)); err != nil || n != 3 {
		t.Fatalf("MarkNotificationsRead: %d, %v; want 3", n, err)
	}
	// Before the prune, a redelivered like is stale.
	a.apply(false, a.notice(zan.OpLike, blog(0), 10, t0))

	deleted, err := s.PruneNotifications(t.Context(), micro(t0+2_000_000))
	if err != nil || deleted != 8 {
		t.Fatalf("PruneNotifications: %d, %v; want 8", deleted, err)
	}
	var left []zan.Target
	for _, n := range a.all() {
		left = append(left, n.Target)
		if n.Read != (n.Target == blog(4) || n.Target == blog(5)) {
			t.Fatalf("after pruning: %+v", n)
		}
	}
	slices.SortFunc(left, func(x, y zan.Target) int {
		if x.Type != y.Type {
			return strings.Compare(x.Type, y.Type)
		}
		return int(x.ID - y.ID)
	})
	if want := []zan.Target{blog(4), blog(5), blog(6), blog(7), photo(4)}; !slices.Equal(left, want) {
		t.Fatalf("items after pruning: %v; want %v", left, want)
	}
	a.unread(3)
	if deleted, err := s.PruneNotifications(t.Context(), micro(t0+2_000_000)); err != nil || deleted != 0 {
		t.Fatalf("PruneNotifications again: %d, %v; want 0", deleted, err)
	}

	// The memory unread items hold stays: a redelivered like is stale.
	a.apply(false, a.notice(zan.OpLike, blog(6), 10, t0+6), a.notice(zan.OpLike, photo(4), 12, t0+24))
	// So does the recent one.
	a.apply(false, a.notice(zan.OpLike, blog(0), 14, t0+3_000_000))
	// The old memory is gone, of read items kept or not: the same like
	// now opens an item.
	a.apply(true, a.notice(zan.OpLike, blog(0), 10, t0))
	a.apply(true, a.notice(zan.OpLike, blog(4), 11, t0+4))
	a.apply(true, a.notice(zan.OpLike, photo(0), 12, t0+20))
	a.unread(6)
}

func testNotificationsPaging(t *testing.T, s zan.Store) {
	a := &inbox{t: t, s: s, user: 1}
	var want []int64 // target ids, newest first
	for i := range int64(7) {
		a.apply(true, a.notice(zan.OpLike, zan.Target{Type: "blog", ID: 100 + i}, 2, t0+i))
		want = append([]int64{100 + i}, want...)
	}
	// Same times: ties break by id.
	a.apply(true, a.notice(zan.OpLike, zan.Target{Type: "blog", ID: 200}, 3, t0+6))
	var got []int64
	var after *zan.Cursor
	for range 10 {
		p, err := s.Notifications(t.Context(), 1, 3, after)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range p.Items {
			got = append(got, n.Target.ID)
		}
		if p.Next == nil {
			break
		}
		after = p.Next
	}
	if len(got) != 8 || got[0] != 200 || !slices.Equal(got[1:], want) {
		t.Fatalf("pages: %v; want 200 then %v", got, want)
	}
	a.unread(8)
	if p, err := s.Notifications(t.Context(), 42, 10, nil); err != nil || len(p.Items) != 0 || p.Next != nil {
		t.Fatalf("an empty inbox: %+v, %v", p, err)
	}
}

// testNotificationsConcurrent: batches for one inbox applied at once (as
// nodes sharing the notifier do) keep the unread count exact.
func testNotificationsConcurrent(t *testing.T, s zan.Store) {
	a := &inbox{t: t, s: s, user: 1}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range int64(8) {
		wg.Go(func() {
			for i := range int64(5) {
				n := a.notice(zan.OpLike, zan.Target{Type: "blog", ID: 1000 + w*10 + i}, 2, t0+i)
				if _, err := s.ApplyLikeNotices(t.Context(), []zan.LikeNotice{n}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("ApplyLikeNotices: %v", err)
	}
	a.unread(40)
	if n := len(a.all()); n != 40 {
		t.Fatalf("%d items, want 40", n)
	}
}

// testNotificationsBatched: a like stream applied in batches (each one out
// of order, delivered twice, and some delivered again later) leaves an
// inbox like the same stream applied one notice at a time in the same
// order: redelivered events change nothing, own likes never notify, and a
// batch's notices work out as if each were applied alone. One recipient
// takes the stream notice by notice, the other in batches, in one store.
func testNotificationsBatched(t *testing.T, s zan.Store) {
	one := &inbox{t: t, s: s, user: 1}
	batched := &inbox{t: t, s: s, user: 2}
	rng := rand.New(rand.NewPCG(1, 2))
	liked := map[[2]int64]bool{} // (target, actor) → liked, for the stream's ops
	at := t0 + 100
	var seen [][]zan.LikeNotice
	for round := range 60 {
		// One batch: toggles of 3 targets by 6 actors (10-15) and the
		// recipient (16).
		var ops []struct {
			op            zan.Op
			target, actor int64
			at            int64
		}
		used := map[[2]int64]bool{}
		for range 1 + rng.IntN(40) {
			tg, actor := 1+rng.Int64N(3), 10+rng.Int64N(7)
			if used[[2]int64{tg, actor}] {
				// One event per (target, actor) and batch: a batch keeps
				// only the last, and a like and unlike in between can
				// differ. Applied one by one, an unlike that empties the
				// actor's unread item makes the actor's next like notify
				// again even if it had been told of in a read item; the
				// batch, never seeing the pair, does not (the rule in
				// testNotificationsAggregate's toggles within one batch).
				continue
			}
			used[[2]int64{tg, actor}] = true
			op := zan.OpLike
			if liked[[2]int64{tg, actor}] {
				op = zan.OpUnlike
			}
			liked[[2]int64{tg, actor}] = op == zan.OpLike
			at++
			ops = append(ops, struct {
				op            zan.Op
				target, actor int64
				at            int64
			}{op, tg, actor, at})
		}
		// Out of order: later events before earlier ones.
		rng.Shuffle(len(ops), func(i, j int) { ops[i], ops[j] = ops[j], ops[i] })
		var batch []zan.LikeNotice
		for _, o := range ops {
			for _, b := range []*inbox{one, batched} {
				actor := o.actor
				if actor == 16 {
					actor = b.user // one's own like
				}
				n := b.notice(o.op, zan.Target{Type: "blog", ID: b.user*1000 + o.target}, actor, o.at)
				if b == one {
					if _, err := s.ApplyLikeNotices(t.Context(), []zan.LikeNotice{n}); err != nil {
						t.Fatalf("ApplyLikeNotices: %v", err)
					}
				} else {
					batch = append(batch, n)
				}
			}
		}
		if _, err := s.ApplyLikeNotices(t.Context(), batch); err != nil {
			t.Fatalf("ApplyLikeNotices: %v", err)
		}
		seen = append(seen, batch)
		// Redeliveries: this batch again, and an older one.
		for _, again := range [][]zan.LikeNotice{batch, seen[rng.IntN(len(seen))]} {
			got, err := s.ApplyLikeNotices(t.Context(), again)
			if _, ok := got[batched.user]; err != nil || ok {
				t.Fatalf("redelivered batch: changed %v, %v", got, err)
			}
		}
		if round%10 == 9 {
			for _, b := range []*inbox{one, batched} {
				if _, err := s.MarkNotificationsRead(t.Context(), b.user, nil, true, micro(at)); err != nil {
					t.Fatalf("MarkNotificationsRead: %v", err)
				}
			}
		}
		// Both inboxes alike: per target, the items' read state and count,
		// and their actors where every counted one shows.
		shape := func(b *inbox) []string {
			var out []string
			for _, n := range b.all() {
				var actors []int64
				if n.ActorCount <= zan.NotificationActors {
					for _, a := range n.Actors {
						if a == b.user {
							a = 16
						}
						actors = append(actors, a)
					}
					slices.Sort(actors)
				}
				out = append(out, fmt.Sprintf("%d read=%v count=%d %v", n.Target.ID-b.user*1000, n.Read, n.ActorCount, actors))
			}
			slices.Sort(out)
			return out
		}
		if a, b := shape(one), shape(batched); !slices.Equal(a, b) {
			t.Fatalf("round %d: one by one %v, batched %v", round, a, b)
		}
		n1, err1 := s.UnreadNotifications(t.Context(), one.user)
		n2, err2 := s.UnreadNotifications(t.Context(), batched.user)
		if err1 != nil || err2 != nil || n1 != n2 {
			t.Fatalf("round %d: unread %d (%v) one by one, %d (%v) batched", round, n1, err1, n2, err2)
		}
	}
}
