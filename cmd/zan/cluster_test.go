package main

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zanlabs/zan/internal/redistest"
)

// TestServeRedisCluster runs two nodes with --redis-cluster on a Redis
// Cluster of three masters (started for the test) and the shared NATS and
// MariaDB: likes, sessions, shops and the flash sale act as one service.
func TestServeRedisCluster(t *testing.T) {
	cfg := scaleOut(t)
	addrs := redistest.Cluster(t, redistest.Bin(t), 3)
	cluster := func(c *Config) { c.RedisURL, c.RedisCluster = "", strings.Join(addrs, ",") }
	a := startServer(t, cfg, cluster)
	b := startServer(t, cfg, cluster, func(c *Config) { c.NodeID = 1 })
	onA, _ := login(t, baseOf(a))
	onB := newAPI(t, baseOf(b))
	onB.token = onA.token

	for i := range 20 { // targets spread over the cluster's slots
		onA.expect(200, "PUT", "/api/v1/likes/comment/"+strconv.Itoa(i+1), nil)
	}
	for i := range 20 {
		v := onB.expect(200, "GET", "/api/v1/likes/comment/"+strconv.Itoa(i+1), nil).json(t)
		if v["count"].(float64) != 1 || v["liked"] != true {
			t.Fatalf("node B, comment/%d: %v", i+1, v)
		}
	}

	admin := newAPI(t, baseOf(a))
	admin.token = "admin-secret"
	shop := admin.expect(201, "POST", "/api/v1/shops", map[string]any{"name": "Cluster Cafe", "type": "cafe", "x": 120.1, "y": 30.2}).json(t)["id"].(string)
	if v := newAPI(t, baseOf(b)).expect(200, "GET", "/api/v1/shops/"+shop, nil).json(t); v["name"] != "Cluster Cafe" {
		t.Fatalf("shop on node B: %v", v)
	}
	now := time.Now().UTC()
	voucher := admin.expect(201, "POST", "/api/v1/vouchers", map[string]any{"shop_id": shop, "title": "x", "stock": 1,
		"begin_at": now.Add(-time.Second).Format(time.RFC3339), "end_at": now.Add(time.Hour).Format(time.RFC3339)}).json(t)["id"].(string)
	onB.expect(202, "POST", "/api/v1/vouchers/"+voucher+"/orders", nil)
	onA.expect(409, "POST", "/api/v1/vouchers/"+voucher+"/orders", nil)
	other, _ := login(t, baseOf(b))
	other.expect(410, "POST", "/api/v1/vouchers/"+voucher+"/orders", nil)

	onA.expect(204, "POST", "/api/v1/auth/logout", nil)
	onB.expectSoon(401, "GET", "/api/v1/me", nil) // the logout holds on every node
}
