package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/zanlabs/zan/internal/redistest"
)

// The event log's faults: NATS killed (-9) and restarted from its store,
// and one server of a three-server cluster lost for good.

// TestFaultNATSKill: NATS killed under load and restarted 2 s later from
// its store. Likes answer 503 while it is gone; afterwards nothing waits
// on messages its crash left behind (reconciliation answers at once, a new
// target can be liked), and nothing acknowledged is lost.
func TestFaultNATSKill(t *testing.T) {
	r := newRig(t)
	r.startRedis()
	n := r.startNATS()
	r.startNode("")
	r.startNode("")
	r.run(faultCase{users: 60, targets: 150, workers: 12, before: 3 * time.Second, after: 4 * time.Second,
		converge: 45 * time.Second, fault: func(l *ledger) {
			l.setPhase("log down")
			n.kill()
			time.Sleep(2 * time.Second)
			n.start()
		}})
	// Nothing left waiting: a reconciliation of every hot target answers.
	req, _ := http.NewRequest("POST", r.bases()[1]+"/api/v1/admin/reconcile", strings.NewReader(`{"all":true}`))
	req.Header.Set("Authorization", "Bearer admin-secret")
	start := time.Now()
	res, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("reconcile after the NATS restart: %d", res.StatusCode)
	}
	t.Logf("reconcile of every hot target answered in %v", time.Since(start).Round(time.Millisecond))
}

// TestFaultNATSClusterR3: the event log on a three-server NATS cluster with
// streams of three replicas; one server is killed under load and stays
// down. The service keeps answering and loses nothing acknowledged.
func TestFaultNATSClusterR3(t *testing.T) {
	r := newRig(t)
	r.startRedis()
	ports := []int{redistest.FreePort(t, false), redistest.FreePort(t, false), redistest.FreePort(t, false)}
	var routes []string
	for _, p := range ports {
		routes = append(routes, "nats://127.0.0.1:"+itoa(p))
	}
	for i, p := range ports {
		r.startNATS("--server_name", "n"+itoa(i), "--cluster_name", "zan", "--cluster", routes[i],
			"--routes", strings.Join(append(append([]string{}, routes[:i]...), routes[i+1:]...), ","))
		_ = p
	}
	waitJetStreamCluster(t, r.natsURLs())
	r.extra = []string{"--nats-replicas", "3"}
	r.startNode("")
	r.startNode("")
	// After: 10 s, since the streams' new leaders are elected among the
	// two servers left, which a loaded machine was seen to take more than
	// 5 s for (every like 503 meanwhile, nothing lost).
	r.run(faultCase{users: 60, targets: 150, workers: 12, before: 3 * time.Second, after: 10 * time.Second,
		converge: 45 * time.Second, fault: func(l *ledger) {
			l.setPhase("server lost")
			r.nats[1].kill()
			time.Sleep(2 * time.Second)
		}})
}

// waitJetStreamCluster waits until the cluster can place a stream of three
// replicas (its meta leader elected, every server in).
func waitJetStreamCluster(t *testing.T, urls string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := func() error {
			nc, err := nats.Connect(urls)
			if err != nil {
				return err
			}
			defer nc.Close()
			js, err := jetstream.New(nc)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "PROBE", Subjects: []string{"probe"}, Replicas: 3}); err != nil {
				return err
			}
			return js.DeleteStream(ctx, "PROBE")
		}()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the NATS cluster did not form: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
