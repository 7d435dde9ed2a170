package sqlite

import (
	"fmt"
	"testing"
	"time"

	"github.com/zanlabs/zan"
)

// BenchmarkSearchCJK: a CJK query word is a substring scan of the shops'
// names and addresses (a latin one is an FTS5 prefix lookup), here over
// 5,000 shops, the size `zan seed --shops 5000` loads.
func BenchmarkSearchCJK(b *testing.B) {
	db, _ := openTemp(b, Options{})
	ctx := b.Context()
	now := time.Now()
	names := []string{"兰州拉面馆", "川味火锅", "Noodle House", "咖啡 Café", "湖滨茶室"}
	for i := range 5000 {
		s := zan.Shop{ID: int64(i + 1), Name: fmt.Sprintf("%s %d", names[i%len(names)], i), Type: "food",
			Address: fmt.Sprintf("西湖区文三路%d号", i), X: 120.1, Y: 30.2, CreatedAt: now, UpdatedAt: now}
		if err := db.CreateShop(ctx, s); err != nil {
			b.Fatal(err)
		}
	}
	// "文三路1号" is in one address: the whole table is scanned.
	for _, c := range []struct {
		q    string
		want int
	}{{"拉面", 20}, {"文三路 拉面", 20}, {"文三路1号", 1}, {"noodle", 20}} {
		b.Run(c.q, func(b *testing.B) {
			for b.Loop() {
				p, err := db.Shops(ctx, zan.ShopFilter{Q: c.q, Limit: 20})
				if err != nil || len(p.Shops) != c.want {
					b.Fatalf("%d shops, %v", len(p.Shops), err)
				}
			}
		})
	}
}
