package loadgen

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"sort"
	"strings"
	"text/tabwriter"
)

// WriteTable writes the results as a table for a terminal.
func WriteTable(w io.Writer, results []*Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tconns\trequests\treq/s\tp50 ms\tp90 ms\tp99 ms\tp99.9 ms\tmax ms\terrors\tvs baseline\t")
	for _, r := range results {
		ratio := "-"
		if r.Baseline != nil {
			ratio = fmt.Sprintf("%.2f × %.0f", r.Ratio, r.Baseline.RPS)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.0f\t%.2f\t%.2f\t%.2f\t%.2f\t%.1f\t%s\t%s\t\n",
			r.Scenario, r.Conns, r.Requests, r.RPS, r.P50, r.P90, r.P99, r.P999, r.Max, errorText(r.Errors), ratio)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range results {
		if r.Check != "" {
			fmt.Fprintf(w, "%s: %s\n", r.Scenario, r.Check)
		}
	}
	ct := costTable(results)
	if ct == nil {
		return nil
	}
	fmt.Fprintln(w, "\nCPU µs per request by process; what zan allocated per request:")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, strings.Join(ct.Head, "\t")+"\t")
	for _, row := range ct.Rows {
		fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
	}
	return tw.Flush()
}

// table is a header and rows of cells.
type table struct {
	Head []string
	Rows [][]string
}

// costTable lays out the results' costs: a column per process (in the
// order first met), the server processes' sum, the limit that sum implies
// on this machine's cores, zan's bytes and objects per request, and, when
// zan ran inside the load generator, its cost above the bare net/http
// baseline's (the generator's own share cancels out). Nil when no result
// has a cost.
func costTable(results []*Result) *table {
	var names []string
	seen := map[string]bool{}
	add := func(c *Cost) {
		for _, p := range c.Procs {
			if !seen[p.Name] {
				seen[p.Name] = true
				names = append(names, p.Name)
			}
		}
	}
	var rows []*Result
	for _, r := range results {
		if r.Cost != nil {
			add(r.Cost)
			rows = append(rows, r)
		}
		if r.Baseline != nil && r.Baseline.Cost != nil {
			add(r.Baseline.Cost)
		}
	}
	if len(rows) == 0 {
		return nil
	}
	cores := rows[0].Cost.Cores
	t := &table{Head: append(append([]string{"scenario"}, names...),
		"server µs", fmt.Sprintf("limit on %d cores", cores), "above bare µs", "B/req", "allocs/req")}
	line := func(name string, c *Cost, above string) []string {
		row := []string{name}
		for _, n := range names {
			cell := "-"
			for _, p := range c.Procs {
				if p.Name == n {
					cell = fmt.Sprintf("%.1f", p.US)
				}
			}
			row = append(row, cell)
		}
		limit := "-"
		if c.Limit > 0 {
			limit = fmt.Sprintf("%.0f/s", c.Limit)
		}
		return append(row, fmt.Sprintf("%.1f", c.ServerUS), limit, above,
			fmt.Sprintf("%.0f", c.Bytes), fmt.Sprintf("%.1f", c.Allocs))
	}
	bases := map[*Result]bool{}
	for _, r := range rows {
		above := "-"
		if b := r.Baseline; b != nil && b.Cost != nil && len(r.Cost.Procs) == 1 && r.Cost.Procs[0].Name == "zan+bench" {
			above = fmt.Sprintf("%.1f", r.Cost.ServerUS-b.Cost.ServerUS)
		}
		t.Rows = append(t.Rows, line(r.Scenario, r.Cost, above))
	}
	for _, r := range rows {
		if b := r.Baseline; b != nil && b.Cost != nil && !bases[b] {
			bases[b] = true
			t.Rows = append(t.Rows, line(fmt.Sprintf("bare net/http, %d conns", b.Conns), b.Cost, "-"))
		}
	}
	return t
}

func errorText(errs map[string]int) string {
	if len(errs) == 0 {
		return "0"
	}
	keys := make([]string, 0, len(errs))
	for k := range errs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s:%d", k, errs[k])
	}
	return strings.Join(parts, " ")
}

// chart is one SVG plot: lines over a shared x axis.
type chart struct {
	Title, XLabel, YLabel string
	W, H                  int
	Lines                 []chartLine
	XTicks, YTicks        []tick
}

type chartLine struct {
	Name   string
	Points string // SVG polyline points
	Color  string
	Dashed bool
}

type tick struct {
	Pos   float64
	Label string
}

const (
	plotW, plotH = 520, 220
	padL, padB   = 56, 36
)

// throughputChart plots requests per second over time for a scenario and
// its baseline.
func throughputChart(r *Result) chart {
	series := []struct {
		name   string
		tl     []int64
		color  string
		dashed bool
	}{{r.Scenario, r.Timeline, "#d9480f", false}}
	if r.Baseline != nil {
		series = append(series, struct {
			name   string
			tl     []int64
			color  string
			dashed bool
		}{"bare net/http", r.Baseline.Timeline, "#868e96", true})
	}
	maxY, maxX := 1.0, 1
	for _, s := range series {
		maxX = max(maxX, len(s.tl))
		for _, v := range s.tl {
			maxY = max(maxY, float64(v)*float64(1e9/Tick))
		}
	}
	maxY = niceCeil(maxY)
	c := chart{Title: r.Scenario + ": throughput", XLabel: "seconds", YLabel: "req/s", W: plotW, H: plotH}
	for _, s := range series {
		var b strings.Builder
		for i, v := range s.tl {
			x := padL + float64(i)/float64(max(1, maxX-1))*(plotW-padL-10)
			y := plotH - padB - float64(v)*float64(1e9/Tick)/maxY*(plotH-padB-20)
			fmt.Fprintf(&b, "%.1f,%.1f ", x, y)
		}
		c.Lines = append(c.Lines, chartLine{s.name, b.String(), s.color, s.dashed})
	}
	secs := float64(maxX) * Tick.Seconds()
	for i := 0; i <= 4; i++ {
		f := float64(i) / 4
		c.XTicks = append(c.XTicks, tick{padL + f*(plotW-padL-10), fmt.Sprintf("%.1f", f*secs)})
		c.YTicks = append(c.YTicks, tick{plotH - padB - f*(plotH-padB-20), fmt.Sprintf("%.0f", f*maxY)})
	}
	return c
}

// latencyChart plots the latency percentile curve on a log scale of
// 1/(1-p): 50%, 90%, 99%, 99.9% are equally spaced, where tails live.
func latencyChart(r *Result) chart {
	type s struct {
		name   string
		curve  [][2]float64
		color  string
		dashed bool
	}
	series := []s{{r.Scenario, r.Curve, "#d9480f", false}}
	if r.Baseline != nil {
		series = append(series, s{"bare net/http", r.Baseline.Curve, "#868e96", true})
	}
	const maxNines = 4.0 // 99.99%
	xOf := func(q float64) float64 {
		n := math.Log10(1 / math.Max(1-q/100, 1e-4))
		return padL + math.Min(n, maxNines)/maxNines*(plotW-padL-10)
	}
	maxY := 0.1
	for _, sr := range series {
		for _, p := range sr.curve {
			if p[0] < 100 {
				maxY = max(maxY, p[1])
			}
		}
	}
	maxY = niceCeil(maxY)
	c := chart{Title: r.Scenario + ": latency by percentile", XLabel: "percentile", YLabel: "ms", W: plotW, H: plotH}
	for _, sr := range series {
		var b strings.Builder
		for _, p := range sr.curve {
			if p[0] >= 100 {
				continue // the max would flatten the rest
			}
			y := plotH - padB - math.Min(p[1], maxY)/maxY*(plotH-padB-20)
			fmt.Fprintf(&b, "%.1f,%.1f ", xOf(p[0]), y)
		}
		c.Lines = append(c.Lines, chartLine{sr.name, b.String(), sr.color, sr.dashed})
	}
	for _, q := range []struct {
		q float64
		l string
	}{{0, "0"}, {90, "90"}, {99, "99"}, {99.9, "99.9"}, {99.99, "99.99"}} {
		c.XTicks = append(c.XTicks, tick{xOf(q.q), q.l})
	}
	for i := 0; i <= 4; i++ {
		f := float64(i) / 4
		c.YTicks = append(c.YTicks, tick{plotH - padB - f*(plotH-padB-20), fmt.Sprintf("%.2g", f*maxY)})
	}
	return c
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

var page = template.Must(template.New("report").Funcs(template.FuncMap{"errs": errorText}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>zan bench</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1.5rem;color:#212529;max-width:1120px}
table{border-collapse:collapse;margin:1rem 0}td,th{padding:.25rem .6rem;border-bottom:1px solid #dee2e6;text-align:right}
th:first-child,td:first-child{text-align:left}.grid{display:flex;flex-wrap:wrap;gap:1rem}
svg{background:#fff;border:1px solid #dee2e6}.check{font-family:monospace}
</style></head><body>
<h1>zan bench</h1>
<p>{{.Summary}}</p>
<table><tr><th>scenario</th><th>conns</th><th>requests</th><th>req/s</th><th>p50 ms</th><th>p99 ms</th><th>p99.9 ms</th><th>max ms</th><th>errors</th><th>vs bare net/http</th></tr>
{{range .Results}}<tr><td>{{.Scenario}}</td><td>{{.Conns}}</td><td>{{.Requests}}</td><td>{{printf "%.0f" .RPS}}</td><td>{{printf "%.2f" .P50}}</td><td>{{printf "%.2f" .P99}}</td><td>{{printf "%.2f" .P999}}</td><td>{{printf "%.1f" .Max}}</td><td>{{errs .Errors}}</td><td>{{if .Baseline}}{{printf "%.2f" .Ratio}} × {{printf "%.0f" .Baseline.RPS}}{{else}}-{{end}}</td></tr>
{{end}}</table>
{{with .Cost}}<p>CPU µs per request by process; what zan allocated per request:</p>
<table><tr>{{range .Head}}<th>{{.}}</th>{{end}}</tr>
{{range .Rows}}<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>
{{end}}</table>{{end}}
{{range .Results}}{{if .Check}}<p class="check">{{.Scenario}}: {{.Check}}</p>{{end}}{{end}}
{{range .Charts}}<div class="grid">{{range .}}
<svg width="{{.W}}" height="{{.H}}" viewBox="0 0 {{.W}} {{.H}}" role="img" aria-label="{{.Title}}">
<text x="{{.W}}" dx="-8" y="14" text-anchor="end" font-weight="600">{{.Title}}</text>
{{range .YTicks}}<line x1="56" x2="510" y1="{{.Pos}}" y2="{{.Pos}}" stroke="#f1f3f5"/><text x="50" y="{{.Pos}}" dy="4" text-anchor="end" font-size="11">{{.Label}}</text>{{end}}
{{range $i, $t := .XTicks}}<text x="{{$t.Pos}}" y="200" text-anchor="{{if eq $i 4}}end{{else}}middle{{end}}" font-size="11">{{$t.Label}}</text>{{end}}
<text x="283" y="216" text-anchor="middle" font-size="11">{{.XLabel}}</text>
<text x="12" y="110" font-size="11" transform="rotate(-90 12 110)" text-anchor="middle">{{.YLabel}}</text>
{{range $i, $l := .Lines}}<polyline fill="none" stroke="{{$l.Color}}" stroke-width="2"{{if $l.Dashed}} stroke-dasharray="5 4"{{end}} points="{{$l.Points}}"/>
<text x="64" y="{{if $i}}44{{else}}28{{end}}" font-size="11" fill="{{$l.Color}}">{{$l.Name}}</text>{{end}}
</svg>{{end}}</div>{{end}}
</body></html>
`))

// WriteHTML writes one self-contained page: the table, and per scenario
// its throughput over time and its latency percentile curve, each beside
// the baseline's.
func WriteHTML(w io.Writer, summary string, results []*Result) error {
	var charts [][]chart
	for _, r := range results {
		charts = append(charts, []chart{throughputChart(r), latencyChart(r)})
	}
	return page.Execute(w, struct {
		Summary string
		Results []*Result
		Charts  [][]chart
		Cost    *table
	}{summary, results, charts, costTable(results)})
}
