package main

import (
	"flag"
	"os"
	"strings"
	"testing"
)

// TestREADMEFlags: every flag of zan serve is in the README's configuration
// table, and the table names no flag that does not exist.
func TestREADMEFlags(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		if name, ok := strings.CutPrefix(line, "| `--"); ok {
			documented[name[:strings.Index(name, "`")]] = true
		}
	}
	fs := newFlagSet()
	var c Config
	c.flags(fs)
	fs.VisitAll(func(f *flag.Flag) {
		if !documented[f.Name] {
			t.Errorf("--%s is not in the README's configuration table", f.Name)
		}
		delete(documented, f.Name)
	})
	for name := range documented {
		t.Errorf("the README documents --%s, which zan serve does not have", name)
	}
}
