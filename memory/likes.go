// Package memory holds the in-process hot state of the embedded mode: like
// sets and counts, SMS codes and rate-limit buckets. It is the one-process
// twin of the redis package and passes the same conformance suite.
package memory

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zanlabs/zan"
)

// shards spreads targets over independent locks so that likes of different
// targets never wait for each other; a power of two keeps the pick a mask.
const shards = 256

// Likes is a zan.LikeState in process memory.
type Likes struct {
	shards [shards]likeShard
	now    func() time.Time
}

type likeShard struct {
	mu      sync.RWMutex
	targets targetMap
	_       [40]byte // keeps neighbouring shards' locks off one cache line
}

// targetMap keys by type, then id. The types are a handful, and Go scans a
// map of so few strings rather than hashing them, so a lookup hashes one
// int64: keyed by zan.Target, hashing and comparing the type strings was a
// third of a batch read's hot-state time.
type targetMap map[string]map[int64]*likeSet

func (m targetMap) get(t zan.Target) *likeSet { return m[t.Type][t.ID] }

func (m targetMap) put(t zan.Target, s *likeSet) {
	ids := m[t.Type]
	if ids == nil {
		ids = make(map[int64]*likeSet)
		m[t.Type] = ids
	}
	ids[t.ID] = s
}

func (m targetMap) remove(t zan.Target) {
	if ids := m[t.Type]; ids != nil {
		delete(ids, t.ID)
		if len(ids) == 0 {
			delete(m, t.Type)
		}
	}
}

func (m targetMap) len() int {
	n := 0
	for _, ids := range m {
		n += len(ids)
	}
	return n
}

// all yields every target and its set.
func (m targetMap) all(yield func(zan.Target, *likeSet) bool) {
	for typ, ids := range m {
		for id, s := range ids {
			if !yield(zan.Target{Type: typ, ID: id}, s) {
				return
			}
		}
	}
}

type likeSet struct {
	users map[int64]struct{}
	// pending holds the answers whose event is not yet confirmed
	// published, by user (nil when none).
	pending map[int64]mark
	lastAt  int64        // the last toggle's At, µs: the next one is greater
	used    atomic.Int64 // last read or write, Unix ns; written under RLock too
}

// mark is an unconfirmed answer: its At, request id, and whether it
// changed nothing.
type mark struct {
	at   int64
	id   string
	kept bool
}

// next stamps a toggle: strictly increasing per target even when the clock
// stalls or steps back, since the store resolves a (user, target) by the
// greatest At.
func (s *likeSet) next(now time.Time, user int64, id string, kept bool) int64 {
	s.lastAt = max(now.UnixMicro(), s.lastAt+1)
	if s.pending == nil {
		s.pending = make(map[int64]mark)
	}
	s.pending[user] = mark{s.lastAt, id, kept}
	return s.lastAt
}

var _ zan.LikeState = (*Likes)(nil)

// NewLikes returns an empty hot state.
func NewLikes() *Likes {
	l := &Likes{now: time.Now}
	for i := range l.shards {
		l.shards[i].targets = make(targetMap)
	}
	return l
}

func (l *Likes) shard(t zan.Target) *likeShard {
	h := uint64(t.ID) * 0x9E3779B97F4A7C15
	for i := 0; i < len(t.Type); i++ {
		h = (h ^ uint64(t.Type[i])) * 0x100000001B3
	}
	return &l.shards[(h>>32)&(shards-1)]
}

// Toggle implements zan.LikeState.
func (l *Likes) Toggle(_ context.Context, t zan.Target, user int64, like bool, id string) (zan.Change, error) {
	sh := l.shard(t)
	now := l.now()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	s := sh.targets.get(t)
	if s == nil {
		return zan.Change{}, zan.ErrNotLoaded
	}
	s.used.Store(now.UnixNano())
	_, has := s.users[user]
	if has == like {
		return zan.Change{Count: int64(len(s.users)), At: s.next(now, user, id, true)}, nil
	}
	if like {
		s.users[user] = struct{}{}
	} else {
		delete(s.users, user)
	}
	return zan.Change{Changed: true, Count: int64(len(s.users)), At: s.next(now, user, id, false)}, nil
}

// Confirm implements zan.LikeState.
func (l *Likes) Confirm(_ context.Context, t zan.Target, user int64, at int64) error {
	sh := l.shard(t)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if s := sh.targets.get(t); s != nil {
		if m, ok := s.pending[user]; ok && m.at <= at {
			delete(s.pending, user)
			if len(s.pending) == 0 {
				s.pending = nil
			}
		}
	}
	return nil
}

// Undo implements zan.LikeState.
func (l *Likes) Undo(_ context.Context, t zan.Target, user int64, like bool, id string) (zan.Change, error) {
	sh := l.shard(t)
	now := l.now()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	s := sh.targets.get(t)
	if s == nil {
		return zan.Change{}, nil
	}
	if m, ok := s.pending[user]; !ok || m.id != id || m.kept {
		// A later toggle came, or that answer changed nothing.
		return zan.Change{Count: int64(len(s.users))}, nil
	}
	if _, has := s.users[user]; has != like {
		return zan.Change{Count: int64(len(s.users))}, nil
	}
	if like {
		delete(s.users, user)
	} else {
		s.users[user] = struct{}{}
	}
	s.used.Store(now.UnixNano())
	return zan.Change{Changed: true, Count: int64(len(s.users)), At: s.next(now, user, zan.UndoID(id), false)}, nil
}

// Load implements zan.LikeState.
func (l *Likes) Load(_ context.Context, t zan.Target, users []int64, after int64) error {
	s := &likeSet{users: make(map[int64]struct{}, len(users))}
	for _, u := range users {
		s.users[u] = struct{}{}
	}
	now := l.now()
	s.lastAt = max(now.UnixMicro(), after+1)
	s.used.Store(now.UnixNano())
	sh := l.shard(t)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.targets.get(t) == nil {
		sh.targets.put(t, s)
	}
	return nil
}

// State implements zan.LikeState.
func (l *Likes) State(_ context.Context, ts []zan.Target, user int64) ([]zan.TargetState, error) {
	out := make([]zan.TargetState, len(ts))
	now := l.now().UnixNano()
	for i, t := range ts {
		sh := l.shard(t)
		sh.mu.RLock()
		if s := sh.targets.get(t); s != nil {
			s.used.Store(now)
			out[i] = zan.TargetState{Loaded: true, Count: int64(len(s.users))}
			if user != 0 {
				_, out[i].Liked = s.users[user]
			}
		}
		sh.mu.RUnlock()
	}
	return out, nil
}

// Members implements zan.LikeState.
func (l *Likes) Members(_ context.Context, t zan.Target) ([]int64, bool, error) {
	sh := l.shard(t)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	s := sh.targets.get(t)
	if s == nil {
		return nil, false, nil
	}
	users := make([]int64, 0, len(s.users))
	for u := range s.users {
		users = append(users, u)
	}
	return users, true, nil
}

// Evict implements zan.LikeState.
func (l *Likes) Evict(_ context.Context, t zan.Target, idleSince time.Time) (bool, error) {
	sh := l.shard(t)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	s := sh.targets.get(t)
	if s == nil || s.used.Load() >= idleSince.UnixNano() {
		return false, nil
	}
	sh.targets.remove(t)
	return true, nil
}

// Idle implements zan.LikeState.
func (l *Likes) Idle(_ context.Context, since time.Time, limit int) ([]zan.Target, error) {
	var out []zan.Target
	cut := since.UnixNano()
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.RLock()
		for t, s := range sh.targets.all {
			if len(out) >= limit {
				break
			}
			if s.used.Load() < cut {
				out = append(out, t)
			}
		}
		sh.mu.RUnlock()
		if len(out) >= limit {
			break
		}
	}
	return out, nil
}

// Used implements zan.LikeState.
func (l *Likes) Used(_ context.Context, since time.Time, limit int) ([]zan.TargetUse, error) {
	var out []zan.TargetUse
	cut := since.UnixNano()
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.RLock()
		for t, s := range sh.targets.all {
			if u := s.used.Load(); u >= cut {
				out = append(out, zan.TargetUse{Target: t, Used: time.Unix(0, u)})
			}
		}
		sh.mu.RUnlock()
	}
	slices.SortFunc(out, func(a, b zan.TargetUse) int { return a.Used.Compare(b.Used) })
	if len(out) > limit {
		out = out[:max(limit, 0)]
	}
	return out, nil
}

// Inspect implements zan.LikeState.
func (l *Likes) Inspect(_ context.Context, ts []zan.Target, before int64) ([]zan.Inspection, error) {
	out := make([]zan.Inspection, len(ts))
	for i, t := range ts {
		sh := l.shard(t)
		sh.mu.RLock()
		if s := sh.targets.get(t); s != nil {
			in := zan.Inspection{Loaded: true, Count: int64(len(s.users)), At: s.lastAt, Unconfirmed: len(s.pending)}
			for u, m := range s.pending {
				if m.at < before {
					_, liked := s.users[u]
					in.Pending = append(in.Pending, zan.PendingChange{User: u, At: m.at, ID: m.id, Liked: liked, Kept: m.kept})
				}
			}
			slices.SortFunc(in.Pending, func(a, b zan.PendingChange) int { return cmp.Compare(a.At, b.At) })
			out[i] = in
		}
		sh.mu.RUnlock()
	}
	return out, nil
}

// Drop implements zan.LikeState.
func (l *Likes) Drop(_ context.Context, t zan.Target, at int64) (bool, error) {
	sh := l.shard(t)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	s := sh.targets.get(t)
	if s == nil || s.lastAt != at || len(s.pending) > 0 {
		return false, nil
	}
	sh.targets.remove(t)
	return true, nil
}

// Epoch implements zan.LikeState: process memory is lost only with the
// process, which starts a new service too.
func (l *Likes) Epoch(context.Context) (string, error) { return "memory", nil }

// Len returns the number of targets in the hot state.
func (l *Likes) Len() int {
	n := 0
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.RLock()
		n += sh.targets.len()
		sh.mu.RUnlock()
	}
	return n
}

// InProcess says the like state answers from this process's memory and ignores
// its context: callers need not bound its calls.
func (l *Likes) InProcess() bool { return true }
