package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/zanlabs/zan/reconcile"
)

// adminClient calls a running server's admin API, so that the commands work
// the same whatever the server runs on (embedded or shared services).
type adminClient struct {
	url, token string
}

func (a *adminClient) flags(fs *flag.FlagSet) {
	fs.StringVar(&a.url, "url", envOr("ZAN_URL", "http://127.0.0.1:8080"), "the running server (env ZAN_URL)")
	fs.StringVar(&a.token, "admin-token", os.Getenv("ZAN_ADMIN_TOKEN"), "the server's admin token (env ZAN_ADMIN_TOKEN)")
}

func (a *adminClient) call(ctx context.Context, method, path string, body any) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(a.url, "/")+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	// Reconciling every hot target can take a while on a big node.
	resp, err := (&http.Client{Timeout: 10 * time.Minute}).Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	return b, nil
}

// runDLQ lists or replays dead letters.
func runDLQ(ctx context.Context, args []string, stdout io.Writer) error {
	const dlqUsage = "usage: zan dlq list|replay [--url URL] [--admin-token T] [seq...]"
	if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
		fmt.Fprintln(stdout, dlqUsage)
		return flag.ErrHelp
	}
	if len(args) == 0 || (args[0] != "list" && args[0] != "replay") {
		return usagef(dlqUsage)
	}
	cmd := args[0]
	fs := newFlagSet()
	var a adminClient
	a.flags(fs)
	limit := fs.Int("limit", 100, "list: how many")
	if err := fs.Parse(args[1:]); err != nil {
		return usage(err)
	}
	if cmd == "list" && fs.NArg() > 0 || *limit < 1 {
		return usagef("usage: zan dlq list [--limit N>0]: no arguments")
	}
	var (
		b   []byte
		err error
	)
	if cmd == "list" {
		b, err = a.call(ctx, http.MethodGet, fmt.Sprintf("/api/v1/admin/dlq?limit=%d", *limit), nil)
	} else {
		b, err = a.call(ctx, http.MethodPost, "/api/v1/admin/dlq/replay",
			map[string][]string{"seqs": append([]string{}, fs.Args()...)})
	}
	if err != nil {
		return err
	}
	var out bytes.Buffer
	if json.Indent(&out, b, "", "  ") != nil {
		out.Write(b)
	}
	out.WriteByte('\n')
	_, err = stdout.Write(out.Bytes())
	return err
}

// runReconcile asks the server to reconcile targets or everything hot, and
// prints what was found.
func runReconcile(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlagSet()
	var a adminClient
	a.flags(fs)
	var targets []string
	fs.Func("target", "a target to reconcile, type/id (repeatable)", func(v string) error {
		targets = append(targets, v)
		return nil
	})
	all := fs.Bool("all", false, "reconcile every target in the hot state")
	if err := fs.Parse(args); err != nil {
		return usage(err)
	}
	if *all == (len(targets) > 0) || fs.NArg() > 0 {
		return usagef("usage: zan reconcile [--url URL] [--admin-token T] (--target type/id ... | --all)")
	}
	body := map[string]any{"targets": targets}
	if *all {
		body = map[string]any{"all": true}
	}
	fmt.Fprintln(stdout, "reconciling (waits for the persister to catch up first)...")
	b, err := a.call(ctx, http.MethodPost, "/api/v1/admin/reconcile", body)
	if err != nil {
		return err
	}
	var res reconcile.Result
	if err := json.Unmarshal(b, &res); err != nil {
		return fmt.Errorf("reading the answer: %w", err)
	}
	for _, d := range res.Differences {
		fmt.Fprintln(stdout, "  "+d)
	}
	_, err = fmt.Fprintf(stdout, "checked %d targets: %d count drifts repaired, %d like-set drifts (%d repaired, %d busy: next round)\n",
		res.Checked, res.CountDrift, res.SetDrift, res.Repaired, res.Busy)
	return err
}

func newFlagSet() *flag.FlagSet { return flag.NewFlagSet("zan", flag.ContinueOnError) }

func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}
