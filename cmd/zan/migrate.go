package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/zanlabs/zan"
	"github.com/zanlabs/zan/migrate"
	"github.com/zanlabs/zan/mysql"
	"github.com/zanlabs/zan/sqlite"
)

const migrateUsage = "usage: zan migrate --from <data dir | mysql://...> --to mysql://... [--batch 1000] [--checkpoint FILE] [--verify-only]"

// migrateSource is a store migrate can read.
type migrateSource interface {
	zan.Exporter
	Close() error
}

// runMigrate copies a store (the SQLite file of a data directory, or a
// MySQL database) into a MySQL/MariaDB/TiDB database and verifies the copy.
// See package migrate for resuming and the switch-over.
func runMigrate(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "switch":
			return runMigrateSwitch(ctx, args[1:], stdout)
		case "verify": // a one-shot comparison of every count
			args = append([]string{"--verify-only"}, args[1:]...)
		}
	}
	fs := newFlagSet()
	from := fs.String("from", "", "the store to copy: a data directory (its zan.db; a server may keep running on it) or a mysql:// URL")
	to := fs.String("to", "", `the destination: "mysql://user:pass@tcp(host:3306)/db"`)
	batch := fs.Int("batch", 1000, "rows read and written at a time")
	cpFile := fs.String("checkpoint", "", "file keeping the position of an interrupted copy (default <dst db name>.migrate.json)")
	verifyOnly := fs.Bool("verify-only", false, "only compare the source and the destination")
	if err := fs.Parse(args); err != nil {
		return usage(err)
	}
	if *from == "" || *to == "" || fs.NArg() > 0 || *batch <= 0 {
		return usagef("%s", migrateUsage)
	}
	if !strings.HasPrefix(*to, "mysql://") {
		return usagef("--to must be a mysql:// URL\n%s", migrateUsage)
	}
	cfg, err := mysql.ParseDSN(*to)
	if err != nil {
		return usage(err)
	}
	if *cpFile == "" {
		*cpFile = cfg.DBName + ".migrate.json"
	}

	var src migrateSource
	fromLabel := *from
	if strings.HasPrefix(*from, "mysql://") {
		if *from == *to {
			return errors.New("--from and --to are the same database")
		}
		fromLabel = redactDB(*from)
		src, err = mysql.Open(ctx, *from)
	} else {
		path := filepath.Join(*from, "zan.db")
		if _, serr := os.Stat(path); serr != nil {
			return fmt.Errorf("--from: no store in %s: %w", *from, serr)
		}
		if abs, aerr := filepath.Abs(path); aerr == nil {
			fromLabel = abs
		}
		// WAL: this process reads beside a server writing the same file.
		src, err = sqlite.Open(ctx, path, sqlite.Options{})
	}
	if err != nil {
		return fmt.Errorf("opening the source: %w", err)
	}
	defer src.Close()
	dst, err := mysql.Open(ctx, *to)
	if err != nil {
		return fmt.Errorf("opening the destination: %w", err)
	}
	defer dst.Close()

	p := newProgressPrinter(stdout)
	rep, err := migrate.Run(ctx, src, dst, migrate.Options{
		Batch:      *batch,
		Checkpoint: *cpFile,
		Label:      fromLabel + " → " + redactDB(*to),
		VerifyOnly: *verifyOnly,
		Progress:   p.update,
	})
	p.finish()
	if err != nil && !errors.Is(err, migrate.ErrDifferent) {
		if rep.Likes+rep.Users+rep.Blogs+rep.Shops+rep.Vouchers+rep.Orders > 0 && !*verifyOnly {
			fmt.Fprintf(stdout, "stopped after %d users, %d blogs, %d shops, %d vouchers, %d orders, %d likes; run again to resume from %s\n",
				rep.Users, rep.Blogs, rep.Shops, rep.Vouchers, rep.Orders, rep.Likes, *cpFile)
		}
		return err
	}

	v := rep.Verification
	for _, d := range v.Differences {
		fmt.Fprintln(stdout, "  differs: "+d)
	}
	if int64(len(v.Differences)) < v.NDifferences {
		fmt.Fprintf(stdout, "  ... and %d more\n", v.NDifferences-int64(len(v.Differences)))
	}
	var line strings.Builder
	if !*verifyOnly {
		resumed := ""
		if rep.Resumed {
			resumed = " (resumed)"
		}
		fmt.Fprintf(&line, "copied %d users, %d identities, %d blogs, %d shops, %d vouchers, %d orders, %d likes (%d changed) in %s%s; ",
			rep.Users, rep.Identities, rep.Blogs, rep.Shops, rep.Vouchers, rep.Orders, rep.Likes, rep.LikesChanged, rep.Elapsed.Round(time.Millisecond), resumed)
	}
	if v.OK() {
		fmt.Fprintf(&line, "verified: totals equal (%d users, %d blogs, %d shops, %d vouchers, %d orders, %d liked rows), %d target counts equal",
			v.SourceUsers, v.SourceBlogs, v.SourceShops, v.SourceVouchers, v.SourceOrders, v.SourceLikes, v.EqualTargets)
	} else {
		fmt.Fprintf(&line, "verification: %d differences (%d of %d target counts equal); a source still serving changes under the copy: stop its writes and run again",
			v.NDifferences, v.EqualTargets, v.Targets)
	}
	fmt.Fprintln(stdout, line.String())
	return err
}

// progressPrinter shows the progress of a migration: one line rewritten in
// place on a terminal, a line every few seconds (and at the end of each
// phase) otherwise.
type progressPrinter struct {
	w       io.Writer
	tty     bool
	phase   string
	last    migrate.Progress
	shown   migrate.Progress // the last one printed
	printed time.Time
	width   int
}

func newProgressPrinter(w io.Writer) *progressPrinter {
	p := &progressPrinter{w: w}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	return p
}

func (p *progressPrinter) text(pr migrate.Progress) string {
	if pr.Total > 0 {
		pct := 100 * float64(pr.Done) / float64(pr.Total)
		if pr.Phase == "likes" {
			// Tombstones are copied too: the total counts liked rows only.
			return fmt.Sprintf("%s: %d rows (~%.0f%% of %d liked)", pr.Phase, pr.Done, min(pct, 100), pr.Total)
		}
		return fmt.Sprintf("%s: %d/%d (%.0f%%)", pr.Phase, pr.Done, pr.Total, min(pct, 100))
	}
	if pr.Phase == "verify" {
		return fmt.Sprintf("verify: %d targets compared", pr.Done)
	}
	return fmt.Sprintf("%s: %d", pr.Phase, pr.Done)
}

func (p *progressPrinter) update(pr migrate.Progress) {
	if pr.Phase != p.phase && p.phase != "" {
		p.endPhase()
	}
	p.phase, p.last = pr.Phase, pr
	now := time.Now()
	if p.tty {
		if now.Sub(p.printed) < 100*time.Millisecond {
			return
		}
		s := p.text(pr)
		fmt.Fprintf(p.w, "\r%-*s", p.width, s)
		p.width = max(p.width, len(s))
	} else {
		if now.Sub(p.printed) < 5*time.Second {
			return
		}
		fmt.Fprintln(p.w, p.text(pr))
	}
	p.shown, p.printed = pr, now
}

// endPhase prints the final state of the phase that ended.
func (p *progressPrinter) endPhase() {
	s := p.text(p.last)
	if p.tty {
		fmt.Fprintf(p.w, "\r%-*s\n", p.width, s)
	} else if p.last != p.shown {
		fmt.Fprintln(p.w, s)
	}
	p.width, p.printed = 0, time.Time{}
}

func (p *progressPrinter) finish() {
	if p.phase != "" {
		p.endPhase()
		p.phase = ""
	}
}
