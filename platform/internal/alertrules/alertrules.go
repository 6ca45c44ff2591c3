// Package alertrules reads the Prometheus rules file, deploy/prometheus/alerts.yaml, so
// that tests can hold it to the code: the metrics the platform registers (repocheck) and
// the metrics each long-running binary exports (the binaries' own tests).
package alertrules

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// File is the part of a Prometheus rules file the checks read.
type File struct {
	Groups []Group `yaml:"groups"`
}

// Group is one rule group.
type Group struct {
	Name  string `yaml:"name"`
	Rules []Rule `yaml:"rules"`
}

// Rule is one alerting (Alert) or recording (Record) rule.
type Rule struct {
	Alert       string            `yaml:"alert"`
	Record      string            `yaml:"record"`
	Expr        string            `yaml:"expr"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

// Name is the rule's alert or record name.
func (r Rule) Name() string { return r.Alert + r.Record }

// MetricName matches a Casebook series name in a query or an annotation.
var MetricName = regexp.MustCompile(`\bcasebook_[a-z0-9_]+\b`)

// ExprMetrics returns the series names the rule's expression reads, in order of
// appearance, each once. A histogram appears as the series the query names (its _bucket,
// say), which is also how it appears on a /metrics page.
func (r Rule) ExprMetrics() []string {
	var out []string
	for _, n := range MetricName.FindAllString(r.Expr, -1) {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// Metrics returns the series names the rule reads in its expression and names in its
// annotations and labels (a dashboard hint such as "compare the action rate"), each once.
func (r Rule) Metrics() []string {
	out := r.ExprMetrics()
	texts := make([]string, 0, len(r.Annotations)+len(r.Labels))
	for _, v := range r.Annotations {
		texts = append(texts, v)
	}
	for _, v := range r.Labels {
		texts = append(texts, v)
	}
	slices.Sort(texts)
	for _, text := range texts {
		for _, n := range MetricName.FindAllString(text, -1) {
			if !slices.Contains(out, n) {
				out = append(out, n)
			}
		}
	}
	return out
}

// Load reads a rules file.
func Load(path string) (File, error) {
	var f File
	b, err := os.ReadFile(path)
	if err != nil {
		return f, err
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		return f, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// Rules returns every rule of every group.
func (f File) Rules() []Rule {
	var out []Rule
	for _, g := range f.Groups {
		out = append(out, g.Rules...)
	}
	return out
}

// Metrics returns the series names the file's rules read or name (Rule.Metrics) that
// start with prefix, sorted, each once.
func (f File) Metrics(prefix string) []string {
	var out []string
	for _, r := range f.Rules() {
		for _, n := range r.Metrics() {
			if strings.HasPrefix(n, prefix) && !slices.Contains(out, n) {
				out = append(out, n)
			}
		}
	}
	slices.Sort(out)
	return out
}

// Path is deploy/prometheus/alerts.yaml of the repository that holds dir: the nearest
// directory at or above dir with a go.work.
func Path(dir string) (string, error) {
	d, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(d, "go.work")); err == nil {
			return filepath.Join(d, "deploy", "prometheus", "alerts.yaml"), nil
		}
		up := filepath.Dir(d)
		if up == d {
			return "", errors.New("alertrules: no go.work at or above " + dir)
		}
		d = up
	}
}
