package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/zanlabs/zan/loadgen"
)

// runBench drives a running server (--url) or one it starts itself,
// embedded, in a temp dir, and prints what it measured.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet()
	var c loadgen.Config
	fs.StringVar(&c.URL, "url", os.Getenv("ZAN_URL"), "the server to drive (env ZAN_URL); empty starts an embedded one")
	fs.StringVar(&c.AdminToken, "admin-token", os.Getenv("ZAN_ADMIN_TOKEN"), "the server's admin token, for the flash sale (env ZAN_ADMIN_TOKEN)")
	fs.IntVar(&c.Conns, "conns", 64, "concurrent connections")
	fs.DurationVar(&c.Duration, "duration", 5*time.Second, "per scenario")
	fs.Int64Var(&c.Requests, "requests", 0, "requests per scenario instead of a duration")
	fs.IntVar(&c.Targets, "targets", 10000, "like targets")
	fs.Float64Var(&c.Zipf, "zipf", 1.1, "exponent (>1) of the Zipf distribution of the hot-key storm")
	fs.IntVar(&c.Users, "users", 200, "users to log in (the server must run with --dev)")
	fs.Int64Var(&c.Stock, "stock", 100, "units of the flash sale's voucher")
	fs.IntVar(&c.Batch, "batch", 50, "targets per batch read (1-200)")
	fs.Uint64Var(&c.Seed, "seed", 1, "random seed")
	scen := fs.String("scenarios", strings.Join(loadgen.Scenarios, ","), "scenarios to run, comma-separated")
	fs.BoolVar(&c.Baseline, "baseline", false, "also measure a bare net/http handler with the same settings, and print each scenario's ratio to it")
	watch := fs.String("watch", "", "further processes to measure the CPU per request of, as name=port pairs, e.g. redis=6379,nats=4222,db=3306 (found by the port they listen on; zan itself is found by --url's)")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	report := fs.String("report", "", "write a self-contained HTML report with plots to this file")
	if err := fs.Parse(args); err != nil {
		return usage(err)
	}
	c.Scenarios = strings.Split(*scen, ",")
	var werr error
	if c.Watch, werr = loadgen.ParseWatch(*watch); werr != nil {
		return usage(fmt.Errorf("--watch: %w", werr))
	}
	if err := checkBench(&c, fs); err != nil {
		return usage(err)
	}
	mode := c.URL
	if c.URL == "" {
		m, err := benchServer(ctx)
		if err != nil {
			return err
		}
		defer m.Close()
		c.URL, c.AdminToken = "http://"+m.Addr(), m.Config.AdminToken
		mode = "embedded (started by zan bench)"
	}
	if isTerminal(stderr) && !*asJSON {
		var bar *progressbar.ProgressBar
		current := ""
		c.Progress = func(s string, done float64, n int64) {
			if s != current {
				if bar != nil {
					_ = bar.Finish()
					fmt.Fprintln(stderr)
				}
				current = s
				bar = progressbar.NewOptions(1000, progressbar.OptionSetWriter(stderr),
					progressbar.OptionSetDescription(fmt.Sprintf("%-12s", s)), progressbar.OptionSetWidth(30),
					progressbar.OptionClearOnFinish())
			}
			_ = bar.Set(int(done * 1000))
			bar.Describe(fmt.Sprintf("%-12s %9d requests", s, n))
		}
		defer func() {
			if bar != nil {
				_ = bar.Finish()
			}
		}()
	}
	r, err := loadgen.New(ctx, c)
	if err != nil {
		return err
	}
	results, err := r.Run(ctx)
	if len(results) == 0 {
		return err
	}
	summary := fmt.Sprintf("zan at %s; %d connections, %v per scenario, %d users, %d targets; %d CPUs, %s",
		mode, c.Conns, c.Duration, c.Users, c.Targets, runtime.NumCPU(), time.Now().UTC().Format(time.RFC3339))
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(results); err != nil {
			return err
		}
	} else {
		fmt.Fprintln(stdout, summary)
		if werr := loadgen.WriteTable(stdout, results); werr != nil {
			return werr
		}
	}
	if *report != "" {
		f, ferr := os.Create(*report)
		if ferr != nil {
			return ferr
		}
		if werr := loadgen.WriteHTML(f, summary, results); werr != nil {
			f.Close()
			return werr
		}
		if cerr := f.Close(); cerr != nil {
			return cerr
		}
	}
	for _, res := range results {
		if strings.HasPrefix(res.Check, "FAILED") || strings.HasPrefix(res.Check, "failed") {
			return fmt.Errorf("%s: %s", res.Scenario, res.Check)
		}
	}
	return err
}

// benchServer starts an embedded server in a temp dir, with the rate
// limits lifted: the bench measures the like path, not the token buckets.
func benchServer(ctx context.Context) (*Main, error) {
	dir, err := os.MkdirTemp("", "zan-bench-")
	if err != nil {
		return nil, err
	}
	m := NewMain()
	m.Config.Addr = "127.0.0.1:0"
	m.Config.Data = dir
	m.Config.Dev = true
	b := make([]byte, 16)
	rand.Read(b)
	m.Config.AdminToken = hex.EncodeToString(b)
	m.Config.LogLevel = "warn"
	m.Config.AccessLog = false
	m.Config.LikeRate, m.Config.LikeBurst = 1e9, 1e9
	m.Config.OrderRate, m.Config.OrderBurst = 1e9, 1e9
	m.Config.VoucherRate, m.Config.VoucherBurst = 1e9, 1e9
	m.Config.Edge.ClientLimits, m.Config.Edge.ForeignLimit = false, limitFlag{} // one address, many made-up targets
	m.Config.Prewarm = 0
	m.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if err := m.Start(ctx); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	m.closers = append(m.closers, func() error { return os.RemoveAll(dir) })
	return m, nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// checkBench refuses values the load generator cannot run with, rather
// than running with others than asked for.
func checkBench(c *loadgen.Config, fs *flag.FlagSet) error {
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("unexpected arguments: %v", fs.Args())
	case c.URL != "" && !strings.HasPrefix(c.URL, "http://") && !strings.HasPrefix(c.URL, "https://"):
		return fmt.Errorf("--url must be an http:// or https:// URL")
	case c.Conns < 1:
		return fmt.Errorf("--conns must be at least 1")
	case c.Requests < 0:
		return fmt.Errorf("--requests must not be negative")
	case c.Requests == 0 && c.Duration <= 0:
		return fmt.Errorf("--duration must be positive (or give --requests)")
	case c.Targets < 2:
		return fmt.Errorf("--targets must be at least 2")
	case !(c.Zipf > 1):
		return fmt.Errorf("--zipf must be greater than 1")
	case c.Users < 1:
		return fmt.Errorf("--users must be at least 1")
	case c.Stock < 1:
		return fmt.Errorf("--stock must be at least 1")
	case c.Batch < 1 || c.Batch > 200:
		return fmt.Errorf("--batch must be 1-200")
	}
	for _, s := range c.Scenarios {
		if !slices.Contains(loadgen.Scenarios, s) && !slices.Contains(loadgen.ExtraScenarios, s) {
			return fmt.Errorf("unknown scenario %q (have %s)", s, strings.Join(append(loadgen.Scenarios, loadgen.ExtraScenarios...), ", "))
		}
	}
	return nil
}
