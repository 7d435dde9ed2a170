package httpapi

import (
	"context"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/memory"
)

func TestClientAddr(t *testing.T) {
	proxies, err := ParsePrefixes("127.0.0.1, 10.0.0.0/8, ::ffff:192.0.2.1, 2001:db8::/32")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		trusted bool
		peer    string
		xff     []string
		want    string
	}{
		{false, "127.0.0.1:5", []string{"1.2.3.4"}, "127.0.0.1"},           // no trusted proxies: the header is ignored
		{true, "198.51.100.9:5", []string{"1.2.3.4"}, "198.51.100.9"},      // an untrusted peer's header is ignored
		{true, "127.0.0.1:5", nil, "127.0.0.1"},                            // a proxy's own request
		{true, "127.0.0.1:5", []string{"1.2.3.4"}, "1.2.3.4"},              // nginx -> zan
		{true, "127.0.0.1:5", []string{"6.6.6.6, 1.2.3.4"}, "1.2.3.4"},     // a forged hop on the left
		{true, "127.0.0.1:5", []string{"1.2.3.4, 10.1.1.1"}, "1.2.3.4"},    // two proxies
		{true, "127.0.0.1:5", []string{"6.6.6.6", "1.2.3.4"}, "1.2.3.4"},   // two header lines
		{true, "127.0.0.1:5", []string{"10.0.0.2, 127.0.0.1"}, "10.0.0.2"}, // all trusted: the farthest
		{true, "127.0.0.1:5", []string{"junk, 1.2.3.4"}, "1.2.3.4"},
		{true, "127.0.0.1:5", []string{"1.2.3.4, junk"}, "127.0.0.1"}, // unreadable: the last hop known
		{true, "[::ffff:192.0.2.1]:5", []string{"2001:db8::1, 2600::7"}, "2600::7"},
		{true, "[2001:db8::5]:5", []string{"::ffff:203.0.113.4"}, "203.0.113.4"},
	} {
		s := &Server{}
		if c.trusted {
			s.Clients.TrustedProxies = proxies
		}
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = c.peer
		for _, h := range c.xff {
			r.Header.Add("X-Forwarded-For", h)
		}
		if got := s.clientAddr(r); got != netip.MustParseAddr(c.want) {
			t.Errorf("peer %s, X-Forwarded-For %q: %v, want %s", c.peer, c.xff, got, c.want)
		}
	}
	for _, bad := range []string{"10.0.0.0/99", "nope", "1.2.3.4/x"} {
		if _, err := ParsePrefixes(bad); err == nil {
			t.Errorf("ParsePrefixes(%q): no error", bad)
		}
	}
}

func TestSubnet(t *testing.T) {
	for in, want := range map[string]string{
		"203.0.113.77":         "203.0.113.0/24",
		"2001:db8:1:2:3:4:5:6": "2001:db8:1:2::/64",
	} {
		if got := subnet(netip.MustParseAddr(in)).String(); got != want {
			t.Errorf("subnet(%s) = %s, want %s", in, got, want)
		}
	}
}

// BenchmarkReadBudget is what an anonymous read pays for the per-address
// budget (address and subnet buckets, in process).
func BenchmarkReadBudget(b *testing.B) {
	lim := memory.NewLimiter()
	defer lim.Close()
	s := &Server{Clients: ClientLimits{ReadLimiter: lim, Read: zan.Limit{Rate: 1e12, Burst: 1 << 30}, SubnetFactor: 8}}
	r := httptest.NewRequest("GET", "/api/v1/likes/comment/1", nil).WithContext(context.Background())
	r.RemoteAddr = "203.0.113.7:40000"
	b.ReportAllocs()
	for b.Loop() {
		if err := s.budget(r, "read", s.Clients.Read, lim); err != nil {
			b.Fatal(err)
		}
	}
}
