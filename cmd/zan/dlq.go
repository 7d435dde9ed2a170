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
)

// runDLQ lists or replays dead letters through a running server's admin
// calls, so it works the same against an embedded or an external log.
func runDLQ(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 || (args[0] != "list" && args[0] != "replay") {
		return fmt.Errorf("usage: zan dlq list|replay [--url URL] [--admin-token T] [seq...]")
	}
	cmd := args[0]
	fs := newFlagSet()
	url := fs.String("url", envOr("ZAN_URL", "http://127.0.0.1:8080"), "the running server (env ZAN_URL)")
	token := fs.String("admin-token", os.Getenv("ZAN_ADMIN_TOKEN"), "the server's admin token (env ZAN_ADMIN_TOKEN)")
	limit := fs.Int("limit", 100, "list: how many")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	client := &http.Client{Timeout: 30 * time.Second}
	var req *http.Request
	var err error
	base := strings.TrimRight(*url, "/")
	if cmd == "list" {
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/api/v1/admin/dlq?limit=%d", base, *limit), nil)
	} else {
		body, _ := json.Marshal(map[string][]string{"seqs": append([]string{}, fs.Args()...)})
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/v1/admin/dlq/replay", bytes.NewReader(body))
	}
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+*token)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	var out bytes.Buffer
	if json.Indent(&out, b, "", "  ") != nil {
		out.Write(b)
	}
	_, err = stdout.Write(out.Bytes())
	return err
}

func newFlagSet() *flag.FlagSet { return flag.NewFlagSet("zan", flag.ContinueOnError) }

func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}
