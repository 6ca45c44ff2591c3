package repocheck

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// declaredMetric matches a metric name where Go code declares one to client_golang: the
// Name of a CounterOpts, GaugeOpts, HistogramOpts or SummaryOpts, or a NewDesc's first
// argument.
var declaredMetric = regexp.MustCompile(`(?s)(?:Opts\{[^}]*?\bName:\s*|NewDesc\(\s*)"([a-zA-Z_:][a-zA-Z0-9_:]*)"`)

// registeredMetrics is every metric a Casebook binary registers, with its label names
// where they are known: the platform's from its registries (platformMetrics, as the alert
// rules' check builds them), the applications' from the Go source that declares them to
// the Prometheus client (their packages are outside this module; labels nil). Scrape
// targets add up, and every target's job and instance labels.
func registeredMetrics(t *testing.T) map[string][]string {
	t.Helper()
	known := platformMetrics(t)
	root := repoRoot(t)
	apps := 0
	for _, mod := range []string{"fraud", "recsys", "adsranking", "loadgen"} {
		err := filepath.WalkDir(filepath.Join(root, mod), func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if !strings.Contains(string(b), `"github.com/prometheus/client_golang/prometheus"`) {
				return nil
			}
			for _, m := range declaredMetric.FindAllSubmatch(b, -1) {
				if _, ok := known[string(m[1])]; !ok {
					known[string(m[1])] = nil
					apps++
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if apps < 10 {
		t.Fatalf("found %d metrics declared by the applications; the pattern no longer finds them", apps)
	}
	known["up"] = nil
	return known
}

// promName matches what could be a series name in PromQL: an identifier not followed by
// "(" (a function) and not inside braces or a grouping (labels); the caller drops keywords.
var (
	promIdent    = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	promStrings  = regexp.MustCompile(`"[^"]*"`)
	promBraces   = regexp.MustCompile(`\{[^}]*\}`)
	promGrouping = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promRange    = regexp.MustCompile(`\[[^\]]*\]`)
	promKeywords = []string{"sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk", "bottomk", "quantile", "count_values",
		"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left", "group_right", "inf", "nan"}
)

// seriesNames returns the series names a PromQL expression reads.
func seriesNames(expr string) []string {
	e := promStrings.ReplaceAllString(expr, `""`)
	e = promBraces.ReplaceAllString(e, " ")
	e = promGrouping.ReplaceAllString(e, " ")
	e = promRange.ReplaceAllString(e, " ")
	var out []string
	for _, loc := range promIdent.FindAllStringIndex(e, -1) {
		name := e[loc[0]:loc[1]]
		rest := strings.TrimLeft(e[loc[1]:], " ")
		if strings.HasPrefix(rest, "(") || slices.Contains(promKeywords, strings.ToLower(name)) {
			continue
		}
		if loc[0] > 0 && (e[loc[0]-1] >= '0' && e[loc[0]-1] <= '9' || e[loc[0]-1] == '.') {
			continue // the exponent or suffix of a number
		}
		out = append(out, name)
	}
	return out
}

// TestDashboardMetrics: every query of every Grafana dashboard under
// deploy/grafana/dashboards reads only metrics some binary registers, and the labels it
// selects or groups by on a platform metric are labels that metric has (or the job and
// instance every scraped series gets). A renamed metric otherwise leaves a panel that is
// empty for ever.
func TestDashboardMetrics(t *testing.T) {
	known := registeredMetrics(t)
	files, err := filepath.Glob(filepath.Join(repoRoot(t), "deploy", "grafana", "dashboards", "*.json"))
	if err != nil || len(files) < 4 {
		t.Fatalf("dashboards: %v (%d found, want the platform's and one per case study)", err, len(files))
	}
	queries := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d struct {
			Title  string `json:"title"`
			Panels []struct {
				Title   string `json:"title"`
				Targets []struct {
					Expr string `json:"expr"`
				} `json:"targets"`
			} `json:"panels"`
		}
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if d.Title == "" || len(d.Panels) == 0 {
			t.Errorf("%s: no title or no panels", f)
		}
		for _, p := range d.Panels {
			if len(p.Targets) == 0 {
				t.Errorf("%s: panel %q has no query", filepath.Base(f), p.Title)
			}
			for _, tg := range p.Targets {
				queries++
				where := filepath.Base(f) + ": panel " + p.Title
				names := seriesNames(tg.Expr)
				if len(names) == 0 {
					t.Errorf("%s: query %q reads no metric", where, tg.Expr)
				}
				var labels []string
				labelsKnown := true
				for _, n := range names {
					base, ls, ok := resolve(known, n)
					if !ok {
						t.Errorf("%s: query %q reads %s, which no binary registers", where, tg.Expr, n)
						continue
					}
					if known[base] == nil {
						labelsKnown = false
					}
					labels = append(labels, ls...)
				}
				if !labelsKnown {
					continue
				}
				labels = append(labels, "job", "instance")
				var used []string
				for _, m := range promBraces.FindAllString(tg.Expr, -1) {
					for _, lm := range matcher.FindAllStringSubmatch(m, -1) {
						used = append(used, lm[1])
					}
				}
				for _, m := range grouping.FindAllStringSubmatch(tg.Expr, -1) {
					for l := range strings.SplitSeq(m[1], ",") {
						if l = strings.TrimSpace(l); l != "" {
							used = append(used, l)
						}
					}
				}
				for _, l := range used {
					if !slices.Contains(labels, l) {
						t.Errorf("%s: query %q uses label %q, which the metrics it reads do not have (%v)", where, tg.Expr, l, labels)
					}
				}
			}
		}
	}
	if queries < 30 {
		t.Errorf("checked %d queries; the dashboards' shape is not what this test parses", queries)
	}
}

func TestSeriesNames(t *testing.T) {
	for expr, want := range map[string][]string{
		`histogram_quantile(0.99, sum by (model, le) (rate(casebook_serving_request_seconds_bucket{job="fraud"}[1m])))`: {"casebook_serving_request_seconds_bucket"},
		`sum(rate(recsys_requests_total{path="fallback-popular"}[5m])) / sum(rate(recsys_requests_total[5m]))`:          {"recsys_requests_total", "recsys_requests_total"},
		`up`:                             {"up"},
		`max by (model) (ads_ece) > 1e3`: {"ads_ece"},
	} {
		if got := seriesNames(expr); !slices.Equal(got, want) {
			t.Errorf("seriesNames(%q) = %v, want %v", expr, got, want)
		}
	}
}
