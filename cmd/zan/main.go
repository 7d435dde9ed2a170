// Command zan runs the zan like platform.
//
//	zan serve     run the server (embedded by default)
//	zan dlq       list or replay dead-lettered like events
//	zan reconcile repair drift between the hot state and the store
//	zan migrate   copy a store into MySQL/MariaDB/TiDB
//	zan seed      load demo shops and vouchers into a running server
//	zan bench     the load generator
//	zan version   print the version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Version is set at build time with -ldflags "-X main.Version=...".
var Version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "zan:", err)
		}
		os.Exit(2)
	}
}

const usage = `zan: a high-concurrency like platform

Usage:
  zan serve [flags]          run the server; every flag also reads ZAN_<FLAG>
  zan dlq list [flags]       list dead-lettered like events
  zan dlq replay [flags] [seq...]
                             send dead letters back to the persister (all when no seq)
  zan reconcile [flags] (--target type/id ... | --all)
                             repair drift between the hot state and the store
  zan migrate --from <data dir | mysql://...> --to mysql://... [flags]
                             copy a store into MySQL/MariaDB/TiDB, resumably, and verify
  zan seed [--shops N] [flags]
                             load demo shops and vouchers into a running server (admin)
  zan bench [--url URL] [--baseline] [--report bench.html] [flags]
                             load-test a server (or an embedded one) and print the figures
  zan version                print the version

Run 'zan serve -h' for the server's flags.
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return flag.ErrHelp
	}
	switch args[0] {
	case "serve":
		m := NewMain()
		m.Stderr = stderr
		if err := m.Config.parse("zan serve", args[1:]); err != nil {
			return err
		}
		if err := m.Start(ctx); err != nil {
			return err
		}
		<-ctx.Done()
		return m.Close()
	case "dlq":
		return runDLQ(ctx, args[1:], stdout)
	case "reconcile":
		return runReconcile(ctx, args[1:], stdout)
	case "migrate":
		return runMigrate(ctx, args[1:], stdout)
	case "seed":
		return runSeed(ctx, args[1:], stdout)
	case "bench":
		return runBench(ctx, args[1:], stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "zan", Version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}
