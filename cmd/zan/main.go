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
	"runtime/debug"
	"syscall"
)

// Version, when set at build time with -ldflags "-X main.Version=...",
// replaces the module version of the build info.
var Version = ""

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "zan:", err)
	}
	os.Exit(exitCode(err))
}

// Exit statuses: 0 done (or --help), 2 a command line that cannot run,
// 1 a failure while running.
func exitCode(err error) int {
	var u usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &u):
		return 2
	}
	return 1
}

// usageError is a command line the command cannot run.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// usage marks err (of parsing or checking flags) as a usage error; help
// stays help.
func usage(err error) error {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return err
	}
	return usageError{err}
}

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// version is the module version and VCS commit the binary was built from.
func version() string {
	v, commit, modified := Version, "", false
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "" {
			v = bi.Main.Version // "(devel)" for a build in the module's own tree
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		v += " " + bi.GoVersion
	}
	if v == "" {
		v = "(unknown)"
	}
	if commit != "" {
		v += " commit " + commit
		if modified {
			v += " (modified)"
		}
	}
	return v
}

const usageText = `zan: a high-concurrency like platform

Usage:
  zan serve [flags]          run the server; every flag also reads ZAN_<FLAG>
  zan dlq list [flags]       list dead-lettered like events
  zan dlq replay [flags] [seq...]
                             send dead letters back to the persister (all when no seq)
  zan reconcile [flags] (--target type/id ... | --all)
                             repair drift between the hot state and the store
  zan migrate --from <data dir | mysql://...> --to mysql://... [flags]
                             copy a store into MySQL/MariaDB/TiDB, resumably, and verify
  zan migrate verify --from ... --to ...
                             compare two stores once (totals and every count)
  zan migrate switch [--phase P] [--read-share N] [flags]
                             show or switch the online migration of nodes run with --mirror-db
  zan seed [--shops N] [flags]
                             load demo shops and vouchers into a running server (admin)
  zan bench [--url URL] [--baseline] [--report bench.html] [flags]
                             load-test a server (or an embedded one) and print the figures
  zan version                print the version

Run 'zan serve -h' for the server's flags.
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usageText)
		return usagef("no command given")
	}
	switch args[0] {
	case "serve":
		m := NewMain()
		m.Stderr = stderr
		if err := m.Config.parse("zan serve", args[1:]); err != nil {
			return usage(err)
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
		if len(args) > 1 {
			return usagef("zan version takes no arguments")
		}
		fmt.Fprintln(stdout, "zan", version())
		return nil
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usageText)
		return nil
	}
	fmt.Fprint(stderr, usageText)
	return usagef("unknown command %q", args[0])
}
