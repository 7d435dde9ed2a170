// Package testenv finds the services the integration tests run against in
// ZAN_TEST_* variables, which take the same forms as the server's flags:
//
//	ZAN_TEST_REDIS  redis://host:port or host:port
//	ZAN_TEST_MYSQL  mysql://user:pass@tcp(host:3306)/db or the DSN user:pass@tcp(host:3306)/db
//	ZAN_TEST_NATS   nats://host:port or host:port (comma-separated for several)
//
// A test that needs one skips, saying which variable to set, when it is
// unset; CI sets them all and fails on such a skip.
package testenv

import (
	"context"
	crand "crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
)

// RedisAddr returns host:port of ZAN_TEST_REDIS, or skips.
func RedisAddr(t testing.TB) string {
	t.Helper()
	a, ok := LookupRedis()
	if !ok {
		t.Skip("ZAN_TEST_REDIS not set: set it to a Redis 7 (redis://127.0.0.1:6379 or 127.0.0.1:6379) to run this test")
	}
	return a
}

// MySQL returns the DSN (user:pass@tcp(host:port)/db) of ZAN_TEST_MYSQL,
// or skips.
func MySQL(t testing.TB) string {
	t.Helper()
	d, ok := LookupMySQL()
	if !ok {
		t.Skip("ZAN_TEST_MYSQL not set: set it to a MariaDB/MySQL/TiDB server where databases may be created " +
			"(mysql://root@tcp(127.0.0.1:3306)/test or root@tcp(127.0.0.1:3306)/test) to run this test")
	}
	return d
}

// NATS returns the nats:// URL(s) of ZAN_TEST_NATS, or skips.
func NATS(t testing.TB) string {
	t.Helper()
	u, ok := LookupNATS()
	if !ok {
		t.Skip("ZAN_TEST_NATS not set: set it to a NATS server with JetStream (nats://127.0.0.1:4222) to run this test")
	}
	return u
}

// LookupRedis is RedisAddr without the skip.
func LookupRedis() (string, bool) {
	v := strings.TrimSpace(os.Getenv("ZAN_TEST_REDIS"))
	if v == "" {
		return "", false
	}
	if strings.Contains(v, "://") {
		if u, err := url.Parse(v); err == nil && u.Host != "" {
			return u.Host, true
		}
	}
	return v, true
}

// LookupMySQL is MySQL without the skip.
func LookupMySQL() (string, bool) {
	v := strings.TrimSpace(os.Getenv("ZAN_TEST_MYSQL"))
	return strings.TrimPrefix(v, "mysql://"), v != ""
}

// LookupNATS is NATS without the skip.
func LookupNATS() (string, bool) {
	v := strings.TrimSpace(os.Getenv("ZAN_TEST_NATS"))
	if v == "" {
		return "", false
	}
	parts := strings.Split(v, ",")
	for i, p := range parts {
		if p = strings.TrimSpace(p); !strings.Contains(p, "://") {
			p = "nats://" + p
		}
		parts[i] = p
	}
	return strings.Join(parts, ","), true
}

// FreshMySQL creates a database of its own on the server of ZAN_TEST_MYSQL
// (or skips), drops it when the test ends, and returns a DSN for it.
func FreshMySQL(t testing.TB) string {
	t.Helper()
	cfg, err := mysql.ParseDSN(MySQL(t))
	if err != nil {
		t.Fatalf("ZAN_TEST_MYSQL: %v", err)
	}
	var b [6]byte
	crand.Read(b[:])
	name := "zan_t_" + hex.EncodeToString(b[:])
	cfg.DBName = ""
	admin, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.ExecContext(t.Context(), "CREATE DATABASE "+name+" CHARACTER SET utf8mb4"); err != nil {
		admin.Close()
		t.Fatalf("CREATE DATABASE: %v", err)
	}
	t.Cleanup(func() {
		defer admin.Close()
		if _, err := admin.ExecContext(context.Background(), "DROP DATABASE "+name); err != nil {
			t.Errorf("DROP DATABASE %s: %v", name, err)
		}
	})
	cfg.DBName = name
	return cfg.FormatDSN()
}
