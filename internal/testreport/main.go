// Command testreport reads `go test -json` and prints what a reader of CI
// needs: the packages' results as go test prints them, the whole output
// of every failed test, every skipped test with its reason, and the
// counts. It fails when a test skipped for want of a service whose
// ZAN_TEST_* variable is set (the suite ran nothing where it should have
// run), or when any test or package failed.
//
//	go test -json ./... 2>&1 | go run ./internal/testreport
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
)

type event struct {
	Action  string
	Package string
	Test    string
	Output  string
}

type skip struct{ name, reason string }

// serviceSkip finds the variable a test said it was missing.
var serviceSkip = regexp.MustCompile(`\b(ZAN_TEST_[A-Z0-9_]+) not set`)

func main() {
	var (
		out                    = map[string][]string{} // package/test -> output so far
		skips                  []skip
		passed, failed, broken int
		wrongSkips             []string
		w                      = bufio.NewWriter(os.Stdout)
	)
	defer w.Flush()
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &e) != nil {
			fmt.Fprintf(w, "%s\n", line) // build errors and the like
			continue
		}
		if e.Test == "" {
			switch e.Action {
			case "output":
				fmt.Fprint(w, e.Output) // ok / FAIL / no test files lines, panics outside tests
			case "fail":
				broken++
			}
			w.Flush()
			continue
		}
		key := e.Package + " " + e.Test
		switch e.Action {
		case "output":
			out[key] = append(out[key], e.Output)
		case "pass":
			passed++
			delete(out, key)
		case "fail":
			failed++
			fmt.Fprintf(w, "=== %s\n", e.Package)
			for _, l := range out[key] { // its === RUN and --- FAIL lines included
				fmt.Fprint(w, l)
			}
			delete(out, key)
		case "skip":
			reason := ""
			for _, l := range out[key] {
				l = strings.TrimSpace(l)
				if l == "" || strings.HasPrefix(l, "=== ") || strings.HasPrefix(l, "--- SKIP") {
					continue
				}
				reason = l
			}
			skips = append(skips, skip{key, reason})
			if m := serviceSkip.FindStringSubmatch(reason); m != nil && os.Getenv(m[1]) != "" {
				wrongSkips = append(wrongSkips, key+": "+reason)
			}
			delete(out, key)
		}
	}
	sort.Slice(skips, func(i, j int) bool { return skips[i].name < skips[j].name })
	fmt.Fprintf(w, "\n== %d tests skipped\n", len(skips))
	for _, s := range skips {
		fmt.Fprintf(w, "SKIP %s: %s\n", s.name, s.reason)
	}
	for _, s := range wrongSkips {
		fmt.Fprintf(w, "ERROR: skipped although its service is configured: %s\n", s)
	}
	fmt.Fprintf(w, "\n%d passed, %d failed, %d skipped\n", passed, failed, len(skips))
	if failed > 0 || broken > 0 || len(wrongSkips) > 0 {
		w.Flush()
		os.Exit(1)
	}
}
