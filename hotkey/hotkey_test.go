package hotkey

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// zipfStream returns n arrivals over distinct keys drawn Zipf(s), and the
// keys ranked by their true count, most frequent first.
func zipfStream(seed uint64, s float64, distinct, n int) (stream []string, ranked []string, counts map[string]int) {
	r := rand.New(rand.NewPCG(seed, seed^0x5bd1e995))
	z := rand.NewZipf(r, s, 1, uint64(distinct-1))
	names := make([]string, distinct)
	// Shuffle ranks onto names so that popularity is unrelated to the key's
	// spelling (and so to its hash).
	for i, p := range r.Perm(distinct) {
		names[i] = "target:" + strconv.Itoa(p)
	}
	counts = make(map[string]int)
	stream = make([]string, n)
	for i := range stream {
		k := names[z.Uint64()]
		stream[i] = k
		counts[k]++
	}
	for k := range counts {
		ranked = append(ranked, k)
	}
	slices.SortFunc(ranked, func(a, b string) int {
		if counts[a] != counts[b] {
			return counts[b] - counts[a]
		}
		return compareStr(a, b)
	})
	return stream, ranked, counts
}

func compareStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func TestZipf(t *testing.T) {
	const distinct, arrivals = 100_000, 1_000_000
	tests := []struct {
		name string
		cfg  Config
		s    float64
	}{
		{"defaults s=1.2", Config{}, 1.2},
		{"defaults s=1.05", Config{}, 1.05},
		{"narrow s=1.2", Config{Width: 1024, Depth: 2}, 1.2},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			stream, ranked, counts := zipfStream(uint64(i+1), tt.s, distinct, arrivals)
			d := New[string](tt.cfg)
			for _, k := range stream {
				d.Add(k)
			}
			top := d.Top()
			if len(top) > 100 {
				t.Fatalf("Top has %d items, want <= K=100", len(top))
			}
			if !slices.IsSortedFunc(top, func(a, b Item[string]) int { return int(b.Count) - int(a.Count) }) {
				t.Fatalf("Top not descending: %v", top)
			}
			est := make(map[string]uint32, len(top))
			for _, it := range top {
				if _, dup := est[it.Key]; dup {
					t.Fatalf("Top lists %q twice", it.Key)
				}
				est[it.Key] = it.Count
			}
			for r, k := range ranked[:10] {
				if _, ok := est[k]; !ok {
					t.Errorf("true rank %d %q (count %d) missing from Top", r+1, k, counts[k])
				}
			}
			found := 0
			for _, k := range ranked[:50] {
				if _, ok := est[k]; ok {
					found++
				}
			}
			if found < 45 {
				t.Errorf("recall of true top 50 = %d/50, want >= 45", found)
			}
			// HeavyKeeper rarely overestimates (only on a fingerprint
			// collision) and underestimates heavy keys by little.
			for _, k := range ranked[:5] {
				got, want := float64(est[k]), float64(counts[k])
				if got < 0.95*want || got > 1.01*want {
					t.Errorf("estimate of %q = %v, true %v", k, got, want)
				}
			}
			for _, k := range ranked[:5] {
				if !d.Hot(k) {
					t.Errorf("Hot(%q) = false for a true top-5 key (count %d)", k, counts[k])
				}
			}
			for _, k := range []string{ranked[len(ranked)-1], ranked[len(ranked)/2], "target:never-seen"} {
				if d.Hot(k) {
					t.Errorf("Hot(%q) = true for a cold key (count %d)", k, counts[k])
				}
			}
			t.Logf("recall@50 = %d/50; top1 est %d true %d", found, est[ranked[0]], counts[ranked[0]])
		})
	}
}

func TestMinCount(t *testing.T) {
	d := New[string](Config{MinCount: 10})
	for range 9 {
		d.Add("a")
	}
	if d.Hot("a") {
		t.Fatal("Hot after 9 arrivals with MinCount 10")
	}
	d.Add("a")
	if !d.Hot("a") {
		t.Fatal("not Hot after 10 arrivals with MinCount 10")
	}
	if top := d.Top(); len(top) != 1 || top[0] != (Item[string]{"a", 10}) {
		t.Fatalf("Top = %v, want [{a 10}]", top)
	}
}

func TestAging(t *testing.T) {
	tests := []struct {
		name string
		k    int
		// oldTracked: with room in the top set "old" stays tracked and
		// drops out of Hot only by falling below MinCount; with K = 3 and
		// three hot keys, the newcomer must also evict it.
		oldTracked bool
	}{
		{"falls below MinCount", 100, true},
		{"evicted by newcomer", 3, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := New[string](Config{K: tt.k, MinCount: 16})
			add := func(k string, n int) {
				for range n {
					d.Add(k)
				}
			}
			add("old", 2000)
			add("steady1", 300)
			add("steady2", 300)
			for _, k := range []string{"old", "steady1", "steady2"} {
				if !d.Hot(k) {
					t.Fatalf("%s not Hot after warm-up; Top = %v", k, d.Top())
				}
			}

			// "old" stops; the steady keys and a newcomer keep arriving
			// each window. 2000 halved 8 times is 7 < MinCount.
			for window := range 8 {
				d.Age()
				add("steady1", 300)
				add("steady2", 300)
				add("new", 200)
				t.Logf("window %d: %v", window, d.Top())
			}
			if d.Hot("old") {
				t.Errorf("old still Hot after 8 halvings; Top = %v", d.Top())
			}
			for _, k := range []string{"new", "steady1", "steady2"} {
				if !d.Hot(k) {
					t.Errorf("%s not Hot; Top = %v", k, d.Top())
				}
			}
			tracked := slices.ContainsFunc(d.Top(), func(it Item[string]) bool { return it.Key == "old" })
			if tracked != tt.oldTracked {
				t.Errorf("old in Top = %v, want %v: %v", tracked, tt.oldTracked, d.Top())
			}

			// With nothing arriving, everything ages out and Top empties.
			for range 20 {
				d.Age()
			}
			if top := d.Top(); len(top) != 0 {
				t.Errorf("Top after idle aging = %v, want empty", top)
			}
			if d.Hot("new") {
				t.Error("new still Hot after idle aging")
			}
		})
	}
}

func TestConcurrent(t *testing.T) {
	const writers, perWriter = 8, 50_000
	stream, ranked, _ := zipfStream(42, 1.2, 10_000, writers*perWriter)
	d := New[string](Config{K: 20})

	var done atomic.Bool
	var wg, bg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for _, k := range stream[w*perWriter : (w+1)*perWriter] {
				d.Add(k)
			}
		})
	}
	for range 2 {
		bg.Go(func() {
			for !done.Load() {
				for _, k := range ranked[:30] {
					d.Hot(k)
				}
				top := d.Top()
				if len(top) > 20 {
					panic(fmt.Sprintf("Top has %d items, K=20", len(top)))
				}
				seen := map[string]bool{}
				for i, it := range top {
					if seen[it.Key] || it.Count == 0 || i > 0 && it.Count > top[i-1].Count {
						panic(fmt.Sprintf("bad Top: %v", top))
					}
					seen[it.Key] = true
				}
			}
		})
	}
	bg.Go(func() {
		for !done.Load() {
			d.Age()
			time.Sleep(time.Millisecond)
		}
	})
	wg.Wait()
	done.Store(true)
	bg.Wait()

	// Aging ran throughout, so counts are arbitrary; but the heaviest key
	// dominates every window and must be tracked and hot at the end.
	if !d.Hot(ranked[0]) {
		t.Errorf("Hot(%q) = false for the heaviest key; Top = %v", ranked[0], d.Top())
	}
	if d.Hot("target:never-seen") {
		t.Error("Hot for a key never added")
	}
}

func BenchmarkAdd(b *testing.B) {
	stream, _, _ := zipfStream(7, 1.2, 100_000, 1<<20)
	unique := make([]string, 1<<20)
	for i := range unique {
		unique[i] = "target:" + strconv.Itoa(i)
	}
	for _, bc := range []struct {
		name string
		keys []string
	}{
		{"zipf", stream},
		{"unique", unique}, // no key repeats: every arrival fights for buckets
		{"onekey", []string{"target:viral"}},
	} {
		mask := len(bc.keys) - 1
		b.Run(bc.name, func(b *testing.B) {
			d := New[string](Config{})
			i := 0
			for b.Loop() {
				d.Add(bc.keys[i&mask])
				i++
			}
		})
		b.Run(bc.name+"/parallel", func(b *testing.B) {
			d := New[string](Config{})
			var start atomic.Uint64
			b.RunParallel(func(pb *testing.PB) {
				i := int(start.Add(7919))
				for pb.Next() {
					d.Add(bc.keys[i&mask])
					i++
				}
			})
		})
	}
}

func BenchmarkHot(b *testing.B) {
	stream, ranked, _ := zipfStream(7, 1.2, 100_000, 1<<20)
	d := New[string](Config{})
	for _, k := range stream {
		d.Add(k)
	}
	for _, bc := range []struct {
		name string
		key  string
	}{
		{"hot", ranked[0]},
		{"cold", "target:never-seen"},
	} {
		if d.Hot(bc.key) != (bc.name == "hot") {
			b.Fatalf("Hot(%q) unexpected", bc.key)
		}
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				d.Hot(bc.key)
			}
		})
		b.Run(bc.name+"/parallel", func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					d.Hot(bc.key)
				}
			})
		})
	}
}

// TestTouchSampled: with sampling, a key read often is still found hot and
// a key read a few times is not, for a struct key hashed as it is.
func TestTouchSampled(t *testing.T) {
	type key struct {
		typ string
		id  int64
	}
	tests := []struct {
		name   string
		sample int
		reads  int
		hot    bool
	}{
		{"every arrival, read often", 1, 200, true},
		{"every arrival, read 3 times", 1, 3, false},
		{"1 in 8, read often", 8, 400, true},
		{"1 in 8, read 3 times", 8, 3, false},
		{"1 in 6 rounds to 8", 6, 400, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := New[key](Config{Sample: tt.sample, MinCount: 4})
			for i := range 1000 { // background traffic over other keys
				d.Touch(key{"blog", int64(i)})
			}
			k := key{"blog", 1 << 40}
			var hot bool
			for range tt.reads {
				hot = d.Touch(k)
			}
			if hot != tt.hot || d.Hot(k) != tt.hot {
				t.Fatalf("after %d reads: Touch %v, Hot %v, want %v; Top = %v", tt.reads, hot, d.Hot(k), tt.hot, d.Top())
			}
		})
	}
}

// BenchmarkTouch is the read path's cost per target: hash, sampled Add and
// the Hot lookup, for a struct key.
func BenchmarkTouch(b *testing.B) {
	type key struct {
		typ string
		id  int64
	}
	for _, sample := range []int{1, 8} {
		b.Run(fmt.Sprintf("sample=%d", sample), func(b *testing.B) {
			d := New[key](Config{Sample: sample})
			var start atomic.Uint64
			b.RunParallel(func(pb *testing.PB) {
				i := int64(start.Add(7919))
				for pb.Next() {
					d.Touch(key{"blog", i & 0xffff})
					i++
				}
			})
		})
	}
}
