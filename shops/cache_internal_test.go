package shops

import (
	"testing"
	"time"
)

// Avalanche: entries written together must not expire together. The TTLs
// of a burst of writes spread over [TTL, TTL×(1+Jitter)].
func TestTTLJitter(t *testing.T) {
	s := &Service{cfg: Config{}}
	s.cfg.defaults()
	base := s.cfg.TTL
	lo, hi := time.Duration(1<<62), time.Duration(0)
	seen := map[time.Duration]bool{}
	for range 1000 {
		d := s.ttl(base)
		if d < base || d > base+time.Duration(s.cfg.Jitter*float64(base)) {
			t.Fatalf("ttl %v outside [%v, +%v%%]", d, base, s.cfg.Jitter*100)
		}
		lo, hi = min(lo, d), max(hi, d)
		seen[d.Truncate(time.Second)] = true
	}
	if spread := hi - lo; spread < base/10 || len(seen) < 100 {
		t.Errorf("1,000 TTLs spread over %v in %d distinct seconds: too close together", spread, len(seen))
	}
}
