package geo

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestDistance(t *testing.T) {
	cases := []struct {
		name           string
		x1, y1, x2, y2 float64
		want, tol      float64
	}{
		{"same point", 120.15, 30.27, 120.15, 30.27, 0, 1e-9},
		{"one degree of latitude", 0, 0, 0, 1, 111195, 1},
		{"West Lake to Hangzhou East station", 120.1551, 30.2741, 120.2127, 30.2906, 5800, 150},
		{"antipodes", 0, 0, 180, 0, math.Pi * earthRadius, 1},
	}
	for _, c := range cases {
		if got := Distance(c.x1, c.y1, c.x2, c.y2); math.Abs(got-c.want) > c.tol {
			t.Errorf("%s: %.1f m, want %.1f±%.0f", c.name, got, c.want, c.tol)
		}
	}
}

// Every point within the radius lies in one of the cover's cells, for
// random centres and radii from a few metres to 50 km.
func TestCoverContainsCircle(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		x, y := r.Float64()*340-170, r.Float64()*160-80
		radius := math.Exp(r.Float64()*math.Log(50000/5)) * 5
		cover := Cover(x, y, radius)
		if len(cover) > 9 {
			t.Fatalf("cover of %d cells", len(cover))
		}
		for range 20 {
			// A point at a random bearing, just inside the radius.
			bearing := r.Float64() * 2 * math.Pi
			d := radius * 0.999 * math.Sqrt(r.Float64())
			py := y + d*math.Cos(bearing)/metresPerDegree
			px := x + d*math.Sin(bearing)/(metresPerDegree*math.Cos(y*math.Pi/180))
			if Distance(x, y, px, py) > radius {
				continue
			}
			h := Encode(px, py)
			ok := false
			for _, c := range cover {
				if strings.HasPrefix(h, c) && h < Upper(c) {
					ok = true
				}
			}
			if !ok {
				t.Fatalf("point %.6f,%.6f at %.1f m of %.6f,%.6f (radius %.1f) not in cover %v", px, py, Distance(x, y, px, py), x, y, radius, cover)
			}
		}
	}
}

func TestCoverPrecision(t *testing.T) {
	for _, c := range []struct {
		radius float64
		want   int
	}{{50, 7}, {1000, 5}, {5000, 4}, {20000, 3}, {50000, 3}} {
		got := Cover(120.15, 30.27, c.radius)
		if len(got[0]) != c.want {
			t.Errorf("radius %v m: precision %d, want %d", c.radius, len(got[0]), c.want)
		}
	}
	if got := Cover(0, 89.9, 1000); len(got) != 1 || got[0] != "" {
		t.Errorf("near the pole: %v, want everything", got)
	}
}
