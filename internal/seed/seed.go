// Package seed makes a realistic demo set of shops in Hangzhou, so that a
// newcomer has something to browse, search and find nearby. The same seed
// gives the same shops.
package seed

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/zanlabs/zan"
)

// Center is the middle of the demo city: West Lake, Hangzhou.
var Center = struct{ X, Y float64 }{120.1551, 30.2741}

type kind struct {
	typ      string
	names    []string
	suffixes []string
	price    [2]int64 // avg_price range
	hours    string
}

var kinds = []kind{
	{"food", []string{"Lanzhou", "Sichuan", "Hangzhou", "Old Street", "Golden Dragon", "Bamboo", "Lotus", "Jade", "Red Lantern", "Grandma's"},
		[]string{"Noodle House", "Dumpling Bar", "Hot Pot", "Kitchen", "Rice Shop", "Dim Sum"}, [2]int64{25, 180}, "10:00-22:00"},
	{"cafe", []string{"Longjing", "Morning", "Lakeside", "Paper Moon", "Slow", "Cloud", "Maple"},
		[]string{"Coffee", "Tea Room", "Cafe", "Roasters", "Bakery"}, [2]int64{20, 60}, "08:00-21:00"},
	{"bar", []string{"Night Owl", "Blue", "Harbor", "Neon", "Velvet"}, []string{"Bar", "Tavern", "Taproom", "Lounge"},
		[2]int64{80, 260}, "18:00-02:00"},
	{"ktv", []string{"Star", "Melody", "Echo", "Party"}, []string{"KTV", "Karaoke"}, [2]int64{60, 200}, "14:00-04:00"},
	{"hotel", []string{"West Lake", "Riverside", "Canal", "Garden", "Summit"}, []string{"Hotel", "Inn", "Hostel"},
		[2]int64{180, 1200}, "00:00-24:00"},
	{"spa", []string{"Lotus", "Zen", "Spring", "Willow"}, []string{"Spa", "Massage", "Foot Spa"}, [2]int64{90, 400}, "11:00-23:00"},
	{"gym", []string{"Iron", "Pulse", "Core", "Peak"}, []string{"Gym", "Fitness", "Yoga Studio"}, [2]int64{40, 150}, "06:00-23:00"},
}

var streets = []string{"Wensan Road", "Yan'an Road", "Hubin Road", "Nanshan Road", "Qingchun Road", "Jiefang Road",
	"Moganshan Road", "Tianmushan Road", "Fengqi Road", "Qiutao Road", "Binsheng Road", "Hefang Street"}
var districts = []string{"Xihu District", "Shangcheng District", "Gongshu District", "Binjiang District", "Xiaoshan District"}

// Shops returns n shops (without ids or times) around Center: most within
// a few kilometres of the lake, a few farther out.
func Shops(n int, seed uint64) []zan.Shop {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	out := make([]zan.Shop, n)
	for i := range out {
		k := kinds[r.IntN(len(kinds))]
		// Normal around the centre, σ ≈ 4 km: about 111 km per degree of
		// latitude and 96 km per degree of longitude at 30°N.
		dx, dy := r.NormFloat64()*4/96, r.NormFloat64()*4/111
		out[i] = zan.Shop{
			Name:      k.names[r.IntN(len(k.names))] + " " + k.suffixes[r.IntN(len(k.suffixes))],
			Type:      k.typ,
			Address:   fmt.Sprintf("%d %s, %s, Hangzhou", 1+r.IntN(888), streets[r.IntN(len(streets))], districts[r.IntN(len(districts))]),
			X:         round(Center.X+dx, 6),
			Y:         round(Center.Y+dy, 6),
			Score:     round(3+2*math.Sqrt(r.Float64()), 1),
			AvgPrice:  k.price[0] + r.Int64N(k.price[1]-k.price[0]+1),
			OpenHours: k.hours,
		}
	}
	return out
}

func round(f float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(f*p) / p
}
