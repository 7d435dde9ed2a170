// Package geo finds shops near a point with a geohash cell index that any
// SQL store can serve: a 12-character geohash per shop, indexed, and a
// query as a few prefix ranges (the cell holding the point and its eight
// neighbours) whose rows are then filtered by exact distance.
package geo

import (
	"math"

	"github.com/mmcloughlin/geohash"
)

// Precision is the length of a stored geohash: cells of about 4 cm.
const Precision = 12

// earthRadius is the mean Earth radius in metres (IUGG).
const earthRadius = 6371008.8

// metresPerDegree is the length of one degree of latitude (and of
// longitude at the equator) on that sphere.
const metresPerDegree = earthRadius * math.Pi / 180

// Encode returns the geohash of longitude x and latitude y.
func Encode(x, y float64) string { return geohash.EncodeWithPrecision(y, x, Precision) }

// Distance is the great-circle distance in metres between (x1, y1) and
// (x2, y2), longitudes and latitudes in degrees (haversine).
func Distance(x1, y1, x2, y2 float64) float64 {
	rad := math.Pi / 180
	dLat := (y2 - y1) * rad
	dLon := (x2 - x1) * rad
	a := math.Sin(dLat/2)*math.Sin(dLat/2) +
		math.Cos(y1*rad)*math.Cos(y2*rad)*math.Sin(dLon/2)*math.Sin(dLon/2)
	return 2 * earthRadius * math.Asin(math.Min(1, math.Sqrt(a)))
}

// cellSize returns the height and the narrowest width, in metres, of a
// geohash cell of precision p whose latitudes reach up to maxLat.
func cellSize(p int, maxLat float64) (h, w float64) {
	latBits := 5 * p / 2
	lonBits := 5*p - latBits
	h = 180 / math.Exp2(float64(latBits)) * metresPerDegree
	w = 360 / math.Exp2(float64(lonBits)) * metresPerDegree * math.Cos(maxLat*math.Pi/180)
	return h, w
}

// Cover returns geohash prefixes whose cells together contain every point
// within radius metres of (x, y): the cell of the point and its neighbours,
// at the finest precision whose cells are at least radius tall and wide
// (so no point within radius lies beyond a neighbour). An empty prefix
// means "everything" (a radius too large for any cell, or a pole).
func Cover(x, y, radius float64) []string {
	maxLat := math.Min(90, math.Abs(y)+radius/metresPerDegree)
	p := 0
	for q := 1; q <= Precision; q++ {
		h, w := cellSize(q, maxLat)
		if h < radius || w < radius {
			break
		}
		p = q
	}
	if p == 0 || maxLat >= 89 {
		return []string{""}
	}
	center := geohash.EncodeWithPrecision(y, x, uint(p))
	out := []string{center}
	seen := map[string]bool{center: true}
	for _, n := range geohash.Neighbors(center) {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

// Upper returns the smallest string greater than every string that starts
// with prefix, for a range scan prefix <= h < Upper(prefix). Geohashes use
// only digits and lower-case letters, which sort below '~'.
func Upper(prefix string) string { return prefix + "~" }
