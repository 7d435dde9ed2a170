package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zanlabs/zan/loadgen"
)

// TestBench runs every scenario briefly against an embedded server and
// checks what zan bench reports: JSON with figures and the scenarios' own
// verdicts, the baseline ratio, and a self-contained HTML report.
func TestBench(t *testing.T) {
	if testing.Short() {
		t.Skip("a load test")
	}
	report := filepath.Join(t.TempDir(), "bench.html")
	var out, errOut bytes.Buffer
	err := run(t.Context(), []string{"bench", "--duration", "300ms", "--conns", "8", "--users", "20",
		"--targets", "500", "--stock", "10", "--baseline", "--json", "--report", report}, &out, &errOut)
	if err != nil {
		t.Fatalf("zan bench: %v\n%s", err, errOut.String())
	}
	var results []loadgen.Result
	if err := json.Unmarshal(out.Bytes(), &results); err != nil {
		t.Fatalf("JSON: %v\n%s", err, out.String())
	}
	if len(results) != len(loadgen.Scenarios) {
		t.Fatalf("%d results, want %d", len(results), len(loadgen.Scenarios))
	}
	for _, r := range results {
		if r.Requests == 0 || r.RPS <= 0 || r.P50 <= 0 || r.P99 < r.P50 || r.Max < r.P99 || r.Baseline == nil || r.Ratio <= 0 || len(r.Timeline) == 0 {
			t.Errorf("%s: implausible figures %+v", r.Scenario, r)
		}
		// The embedded server runs in the bench's process: its cost is
		// that process's, and the baseline's is measured the same way.
		if c := r.Cost; c == nil || len(c.Procs) != 1 || c.Procs[0].Name != "zan+bench" || c.ServerUS <= 0 || c.Limit <= 0 || c.Bytes <= 0 || c.Allocs <= 0 ||
			r.Baseline == nil || r.Baseline.Cost == nil || r.Baseline.Cost.ServerUS <= 0 {
			t.Errorf("%s: implausible cost %+v (baseline %+v)", r.Scenario, r.Cost, r.Baseline.Cost)
		}
		if len(r.Errors) > 0 {
			t.Errorf("%s: errors %v", r.Scenario, r.Errors)
		}
	}
	for _, name := range []string{"churn", "flash"} {
		for _, r := range results {
			if r.Scenario == name && !strings.HasPrefix(r.Check, "ok") {
				t.Errorf("%s check: %q", name, r.Check)
			}
		}
	}
	html, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<svg", "polyline", "bare net/http", "flash: ok", "CPU µs per request", "allocs/req"} {
		if !bytes.Contains(html, []byte(want)) {
			t.Errorf("report lacks %q", want)
		}
	}
	if bytes.Contains(html, []byte("http://")) || bytes.Contains(html, []byte("https://")) {
		t.Error("the report loads something from elsewhere; it must be self-contained")
	}
}
