package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/zanlabs/zan/internal/testenv"
)

// scaleOut configures a node against the machine's Redis, NATS and MariaDB
// (ZAN_TEST_REDIS, ZAN_TEST_NATS, ZAN_TEST_MYSQL), in a database and a name
// of its own so runs do not meet. It skips when a service is not given.
func scaleOut(t *testing.T) func(*Config) {
	t.Helper()
	rd, nt := testenv.RedisAddr(t), testenv.NATS(t)
	dsn := testenv.FreshMySQL(t)
	// The node's name keeps its streams apart from other runs'.
	b := make([]byte, 4)
	rand.Read(b)
	name := "t" + hex.EncodeToString(b)
	t.Cleanup(func() { dropStreams(nt, name) })
	return func(c *Config) {
		c.Name = name
		c.RedisURL = "redis://" + rd
		c.NATSURL = nt
		c.DBURL = "mysql://" + dsn
	}
}

// dropStreams removes the test's streams from the shared NATS server.
func dropStreams(url, name string) {
	nc, err := nats.Connect(url)
	if err != nil {
		return
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, s := range []string{"_LIKE_EVENTS", "_LIKES", "_DLQ", "_ORDERS"} {
		js.DeleteStream(ctx, strings.ToUpper(name)+s)
	}
}

// TestTwoNodes runs two nodes against the same services: they act as one.
func TestTwoNodes(t *testing.T) {
	cfg := scaleOut(t)
	limit := func(c *Config) { c.LikeBurst, c.LikeRate = 5, 0.001 }
	a := startServer(t, cfg, limit)
	b := startServer(t, cfg, limit)
	onA, uid := login(t, baseURL(a))
	onB := newAPI(t, baseURL(b))
	onB.token = onA.token // sessions are shared

	onB.expect(200, "GET", "/api/v1/me", nil)
	onA.expect(200, "PUT", "/api/v1/likes/comment/1", nil)
	v := onB.expect(200, "GET", "/api/v1/likes/comment/1", nil).json(t)
	if v["count"] != 1.0 || v["liked"] != true {
		t.Fatalf("a like through node A seen on node B: %v", v)
	}
	eventually(t, "node B lists the liker", func() error {
		items := onB.expect(200, "GET", "/api/v1/likes/comment/1/users", nil).json(t)["items"].([]any)
		if len(items) != 1 || items[0].(map[string]any)["user_id"] != uid {
			return fmt.Errorf("likers %v", items)
		}
		return nil
	})

	// Blogs are shared.
	id := onA.expect(201, "POST", "/api/v1/blogs", map[string]string{"title": "t", "content": "c"}).json(t)["id"].(string)
	onB.expect(200, "GET", "/api/v1/blogs/"+id, nil)

	// One rate budget across nodes: burst 5, one used above.
	for i, n := range []*api{onA, onB, onA, onB} {
		n.expect(200, "PUT", fmt.Sprintf("/api/v1/likes/comment/%d", i+1), nil)
	}
	onB.expect(429, "PUT", "/api/v1/likes/comment/9", nil)

	// A logout on A ends the token on B at once.
	onA.expect(204, "POST", "/api/v1/auth/logout", nil)
	onB.expectSoon(401, "GET", "/api/v1/me", nil)
}
