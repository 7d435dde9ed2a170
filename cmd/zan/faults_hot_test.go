package main

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zanlabs/zan/internal/redistest"
)

// The hot state's faults: Redis comes back older than it was, or not at
// all for a while. Two nodes, a private Redis and NATS, the machine's
// MariaDB; likes and unlikes under load, every answer in the ledger.

// hotCase is the load of the Redis fault tests.
func hotCase(fault func(l *ledger)) faultCase {
	return faultCase{users: 60, targets: 150, workers: 12, before: 3 * time.Second, after: 4 * time.Second,
		converge: 30 * time.Second, fault: fault}
}

// TestFaultRedisSnapshot: Redis killed (-9) under load and restarted from
// its own RDB snapshot (taken every second), which misses the last moments
// of acknowledged likes and unlikes.
func TestFaultRedisSnapshot(t *testing.T) {
	r := newRig(t)
	r.startRedis("--save", "1 1")
	r.startNATS()
	r.startNode("")
	r.startNode("")
	r.run(hotCase(func(l *ledger) {
		time.Sleep(700 * time.Millisecond) // into a second since the last snapshot
		r.redis.kill()
		r.redis.start()
	}))
}

// TestFaultRedisAOF: the same with an append-only file synced every second
// (Redis's advice), which loses up to that second.
func TestFaultRedisAOF(t *testing.T) {
	r := newRig(t)
	r.startRedis("--appendonly", "yes", "--appendfsync", "everysec")
	r.startNATS()
	r.startNode("")
	r.startNode("")
	r.run(hotCase(func(l *ledger) {
		r.redis.kill()
		r.redis.start()
	}))
}

// TestFaultRedisPromotedReplica: the nodes reach Redis through one address
// (a proxy, as a virtual IP or a Sentinel-aware client would); its replica
// stops replicating (it lags), the master dies, and the replica is
// promoted behind that address, missing what the master acknowledged last.
func TestFaultRedisPromotedReplica(t *testing.T) {
	r := newRig(t)
	master := r.startRedis()
	replica := &redisProc{t: t, bin: master.bin, dir: t.TempDir(), port: redistest.FreePort(t, false)}
	replica.args = []string{"--replicaof", "127.0.0.1", itoa(master.port)}
	replica.start()
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(replica.do("INFO replication"), "master_link_status:up"); {
		if time.Now().After(deadline) {
			t.Fatal("the replica did not connect")
		}
		time.Sleep(50 * time.Millisecond)
	}
	px := newProxy(t, master.addr())
	r.startNATS()
	r.startNode(px.addr())
	r.startNode(px.addr())
	r.run(hotCase(func(l *ledger) {
		replica.do("REPLICAOF NO ONE") // from here on it lags
		l.setPhase("replica lagging")
		time.Sleep(1500 * time.Millisecond)
		master.kill()
		px.switchTo(replica.addr())
	}))
}

// TestFaultRedisDown: Redis hangs (SIGSTOP) for 10 s under load. Requests
// fail fast with 503 and Retry-After, not after the outage; requests the
// hung Redis had read run when it resumes and must not take effect behind
// their 503.
func TestFaultRedisDown(t *testing.T) {
	r := newRig(t)
	r.startRedis()
	r.startNATS()
	r.startNode("")
	r.startNode("")
	l := r.run(hotCase(func(l *ledger) {
		l.setPhase("down")
		r.redis.signal(syscall.SIGSTOP)
		time.Sleep(10 * time.Second)
		r.redis.signal(syscall.SIGCONT)
	}))
	l.failFast(t, "down", 2500*time.Millisecond)
}
