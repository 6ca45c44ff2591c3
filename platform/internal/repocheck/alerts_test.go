package repocheck

import (
	"context"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/casebook-ml/casebook/platform/features"
	"github.com/casebook-ml/casebook/platform/internal/alertrules"
	"github.com/casebook-ml/casebook/platform/monitoring"
	"github.com/casebook-ml/casebook/platform/registry"
	regfs "github.com/casebook-ml/casebook/platform/registry/fs"
	"github.com/casebook-ml/casebook/platform/serving"
)

// recorder is a Registerer that keeps the descriptions of everything registered on it, so
// that metric vectors with no series yet (which Gather leaves out) are still seen.
type recorder struct {
	reg   *prometheus.Registry
	descs []*prometheus.Desc
}

func (r *recorder) Register(c prometheus.Collector) error {
	if err := r.reg.Register(c); err != nil {
		return err
	}
	ch := make(chan *prometheus.Desc)
	go func() { c.Describe(ch); close(ch) }()
	for d := range ch {
		r.descs = append(r.descs, d)
	}
	return nil
}

func (r *recorder) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

func (r *recorder) Unregister(c prometheus.Collector) bool { return r.reg.Unregister(c) }

// sampleEach emits one series per recorded description, with every variable label set, so
// that Gather names each metric and its labels.
type sampleEach []*prometheus.Desc

func (s sampleEach) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range s {
		ch <- d
	}
}

func (s sampleEach) Collect(ch chan<- prometheus.Metric) {
	for _, d := range s {
		// The number of variable labels is not exported; the constructor says when it is right.
		for n := range 16 {
			if m, err := prometheus.NewConstMetric(d, prometheus.UntypedValue, 0, make([]string, n)...); err == nil {
				ch <- m
				break
			}
		}
	}
}

// platformMetrics builds the platform's metric sets the way the binaries do (serving.New,
// registry.New, monitoring.NewMetrics, features.NewMetrics) on a recording registerer and
// returns each metric's name with its label names.
func platformMetrics(t *testing.T) map[string][]string {
	t.Helper()
	rec := &recorder{reg: prometheus.NewRegistry()}
	fc := regfs.DefaultConfig()
	fc.Dir = t.TempDir()
	st, err := regfs.Open(fc)
	if err != nil {
		t.Fatal(err)
	}
	rc := registry.DefaultConfig()
	rc.Registerer = rec
	reg, err := registry.New(st, rc)
	if err != nil {
		t.Fatal(err)
	}
	sc := serving.DefaultConfig()
	sc.Registerer = rec
	srv, err := serving.New(context.Background(), reg, sc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	if _, err := monitoring.NewMetrics(rec); err != nil {
		t.Fatal(err)
	}
	if _, err := features.NewMetrics(rec, nil); err != nil {
		t.Fatal(err)
	}
	g := prometheus.NewPedanticRegistry()
	if err := g.Register(sampleEach(rec.descs)); err != nil {
		t.Fatal(err)
	}
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, mf := range mfs {
		var labels []string
		for _, lp := range mf.GetMetric()[0].GetLabel() {
			labels = append(labels, lp.GetName())
		}
		out[mf.GetName()] = labels
	}
	if len(out) != len(rec.descs) {
		t.Fatalf("gathered %d metrics from %d descriptions; a description's labels could not be sampled", len(out), len(rec.descs))
	}
	return out
}

var (
	selector = regexp.MustCompile(`\b(casebook_[a-z0-9_]+)\s*\{([^}]*)\}`)
	matcher  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)`)
	grouping = regexp.MustCompile(`\b(?:by|on|without|ignoring|group_left|group_right)\s*\(([^)]*)\)`)
	labelRef = regexp.MustCompile(`\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)`)
)

// resolve finds the registered metric a series name in a query stands for: itself, or the
// histogram a _bucket, _sum or _count series belongs to (with le for buckets).
func resolve(known map[string][]string, name string) (string, []string, bool) {
	if labels, ok := known[name]; ok {
		return name, labels, true
	}
	for _, suf := range []string{"_bucket", "_sum", "_count"} {
		base, ok := strings.CutSuffix(name, suf)
		if labels, found := known[base]; ok && found {
			if suf == "_bucket" {
				labels = append(slices.Clone(labels), "le")
			}
			return base, labels, true
		}
	}
	return "", nil, false
}

// TestAlertMetricsRegistered: every metric the Prometheus rules read (in an expression or
// named in an annotation) is registered by the platform under that name, and every label
// a rule selects on, groups by or prints is one of its labels. A renamed metric or label
// otherwise leaves an alert that can never fire and that promtool accepts.
func TestAlertMetricsRegistered(t *testing.T) {
	known := platformMetrics(t)
	if len(known) < 30 {
		t.Fatalf("the platform registered %d metrics; want the serving, registry, monitoring and feature sets", len(known))
	}
	path := filepath.Join(repoRoot(t), "deploy", "prometheus", "alerts.yaml")
	rf, err := alertrules.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	rules := 0
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			rules++
			name := r.Name()
			var texts []string
			for _, v := range r.Annotations {
				texts = append(texts, v)
			}
			for _, v := range r.Labels {
				texts = append(texts, v)
			}
			sort.Strings(texts)
			union := map[string]bool{}
			exprNames := r.ExprMetrics()
			if len(exprNames) == 0 {
				t.Errorf("rule %s: expression %q names no casebook_ metric", name, r.Expr)
			}
			for _, n := range r.Metrics() {
				_, labels, ok := resolve(known, n)
				if !ok {
					t.Errorf("rule %s reads %s, which the platform does not register", name, n)
					continue
				}
				if slices.Contains(exprNames, n) {
					for _, l := range labels {
						union[l] = true
					}
				}
			}
			for _, text := range append([]string{r.Expr}, texts...) {
				for _, m := range selector.FindAllStringSubmatch(text, -1) {
					_, labels, ok := resolve(known, m[1])
					if !ok {
						continue // reported above
					}
					for _, lm := range matcher.FindAllStringSubmatch(m[2], -1) {
						if !slices.Contains(labels, lm[1]) {
							t.Errorf("rule %s selects %s on label %q; its labels are %v", name, m[1], lm[1], labels)
						}
					}
				}
			}
			var used []string
			for _, m := range grouping.FindAllStringSubmatch(r.Expr, -1) {
				for l := range strings.SplitSeq(m[1], ",") {
					if l = strings.TrimSpace(l); l != "" {
						used = append(used, l)
					}
				}
			}
			for _, text := range texts {
				for _, m := range labelRef.FindAllStringSubmatch(text, -1) {
					used = append(used, m[1])
				}
			}
			for _, l := range used {
				if !union[l] {
					t.Errorf("rule %s uses label %q, which none of the metrics it reads has", name, l)
				}
			}
		}
	}
	if rules < 10 {
		t.Errorf("read %d rules from %s; the file's shape is not what this test parses", rules, path)
	}
}
