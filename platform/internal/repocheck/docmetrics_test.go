package repocheck

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/casebook-ml/casebook/platform/internal/alertrules"
)

var goMetricName = regexp.MustCompile(`"(casebook_[a-z0-9_]+)"`)

// TestDocMetricNames: every metric a document names (`casebook_…`) is a name the Go
// source declares, or the prefix of one (`casebook_serving_*`, a grep pattern). It reads
// the source, not registries, so an application's metrics count too; what the alert
// rules read is checked against the registries themselves (TestAlertMetricsRegistered).
func TestDocMetricNames(t *testing.T) {
	root := repoRoot(t)
	var declared []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "out") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, m := range goMetricName.FindAllSubmatch(b, -1) {
			declared = append(declared, string(m[1]))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(declared) < 30 {
		t.Fatalf("found %d casebook_ names in the Go source; want the platform's and the applications' metrics", len(declared))
	}
	known := func(name string) bool {
		for _, suf := range []string{"", "_bucket", "_sum", "_count"} {
			base, ok := strings.CutSuffix(name, suf)
			if !ok {
				continue
			}
			for _, d := range declared {
				if strings.HasPrefix(d, base) {
					return true
				}
			}
		}
		return false
	}
	checked := 0
	for _, file := range markdownFiles(t, root) {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, file)
		seen := map[string]bool{}
		for _, name := range alertrules.MetricName.FindAllString(string(b), -1) {
			if seen[name] {
				continue
			}
			seen[name] = true
			checked++
			if !known(name) {
				t.Errorf("%s names metric %s, which no Go source declares", rel, name)
			}
		}
	}
	if checked < 20 {
		t.Errorf("checked %d metric names in the documents; the pattern no longer finds them", checked)
	}
}
