package repocheck

import (
	"bufio"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// repoRoot is the repository root, two levels above platform/internal/repocheck.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.work")); err != nil {
		t.Fatalf("repository root %s has no go.work: %v", root, err)
	}
	return root
}

// topDirs are the folders a backticked token must start with (then a slash) to be read as
// a path: the repository's top-level folders, and scripts/ (a module's own, named from
// its README).
var topDirs = []string{"platform", "fraud", "recsys", "adsranking", "loadgen", "deploy", "docs", "scripts", ".ci"}

var (
	mdLink    = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	codeSpan  = regexp.MustCompile("`([^`\n]+)`")
	pathToken = regexp.MustCompile(`^[A-Za-z0-9_.*{}/-]+$`)
	// scenarioName finds scenario names in Go source (scenario.Scenario{Name: "area/name"}):
	// `fraud/stream` in a document is a scenario, not a folder.
	scenarioName = regexp.MustCompile(`Name:\s+"([a-z0-9-]+/[a-z0-9-]+)"`)
	scenarioLike = regexp.MustCompile(`^[a-z]+/[a-z0-9-]+$`)
	scenarioCmd  = regexp.MustCompile(`NAME=([a-z]+/[a-z0-9-]+)|scenario run((?:\s+[a-z]+/[a-z0-9-]+)+)`)
	heading      = regexp.MustCompile(`^#{1,6}\s+(.*?)\s*#*\s*$`)
)

// markdownFiles lists the documents checked: every .md in the repository outside .git,
// out/ and bin/.
func markdownFiles(t *testing.T, root string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "out", "bin", "testdata":
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(p, ".md") {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// scenarioNames collects the names every binary's scenarios are declared with.
func scenarioNames(t *testing.T, root string) map[string]bool {
	t.Helper()
	names := map[string]bool{}
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
		for _, m := range scenarioName.FindAllSubmatch(b, -1) {
			names[string(m[1])] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(names) < 10 {
		t.Fatalf("found %d scenario names in the Go source; the pattern %v no longer matches how scenarios are declared", len(names), scenarioName)
	}
	return names
}

// docRefs are the references one document makes.
type docRefs struct {
	links []string // markdown link targets, relative to the document (anchors kept)
	paths []string // backticked repository paths, relative to the root
	// scenarios are backticked area/name tokens outside the top-level folders
	// (`serving/rollouts`, `ads/knobs`): a scenario's name, or a platform package.
	scenarios []string
	// commands are the scenario names of `make scenario NAME=...` and `scenario run ...`
	// commands, fenced blocks included.
	commands []string
}

// readRefs reads the links and backticked paths of one document, outside fenced code
// blocks (commands there are checked by running them, not here).
func readRefs(t *testing.T, file string) docRefs {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var r docRefs
	fenced := false
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
			continue
		}
		// Commands, fenced or not, that run scenarios by name.
		for _, m := range scenarioCmd.FindAllStringSubmatch(line, -1) {
			r.commands = append(r.commands, strings.Fields(m[1]+" "+m[2])...)
		}
		if fenced {
			continue
		}
		for _, m := range mdLink.FindAllStringSubmatch(line, -1) {
			r.links = append(r.links, m[1])
		}
		for _, m := range codeSpan.FindAllStringSubmatch(line, -1) {
			tok := strings.TrimPrefix(m[1], "./")
			top, _, ok := strings.Cut(tok, "/")
			if !ok || !pathToken.MatchString(tok) {
				continue
			}
			if slices.Contains(topDirs, top) {
				r.paths = append(r.paths, tok)
			} else if scenarioLike.MatchString(tok) {
				r.scenarios = append(r.scenarios, tok)
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return r
}

// pathExists reports whether a repository path names a file or folder; a Go package
// pattern (`platform/...`) names its folder, a glob must match something.
func pathExists(root, p string) bool {
	p = strings.TrimSuffix(strings.TrimSuffix(p, "..."), "/")
	if strings.ContainsAny(p, "*{") {
		matches, _ := filepath.Glob(filepath.Join(root, p))
		return len(matches) > 0
	}
	_, err := os.Stat(filepath.Join(root, p))
	return err == nil
}

// goIdent trims a Go identifier from a package path: `fraud/events.Replay` names the
// package fraud/events.
var goIdent = regexp.MustCompile(`\.[A-Z][A-Za-z0-9_]*$`)

// TestDocPaths: every repository path a document names exists. A path that moved or was
// never built (a deploy/k8s the text promised) is listed with the document that names it.
func TestDocPaths(t *testing.T) {
	root := repoRoot(t)
	scenarios := scenarioNames(t, root)
	files := markdownFiles(t, root)
	areas := map[string]bool{}
	for name := range scenarios {
		area, _, _ := strings.Cut(name, "/")
		areas[area] = true
	}
	if len(files) < 10 {
		t.Fatalf("found %d markdown files under %s; want the README and docs/", len(files), root)
	}
	checked := 0
	for _, file := range files {
		rel, _ := filepath.Rel(root, file)
		refs := readRefs(t, file)
		for _, p := range refs.paths {
			if scenarios[p] {
				continue
			}
			checked++
			pkg := goIdent.ReplaceAllString(p, "")
			// From the root, or from the document's folder (a module README's own files).
			if !pathExists(root, p) && !pathExists(root, pkg) && !pathExists(filepath.Dir(file), p) {
				t.Errorf("%s names `%s`, which does not exist (not a file, folder or scenario)", rel, p)
			}
		}
		for _, p := range refs.scenarios {
			area, _, _ := strings.Cut(p, "/")
			if scenarios[p] || !areas[area] {
				continue
			}
			checked++
			// features/redis is the package platform/features/redis, not a scenario.
			if !pathExists(root, filepath.Join("platform", p)) && !pathExists(filepath.Dir(file), p) {
				t.Errorf("%s names `%s`: no scenario has that name (and it is no platform package)", rel, p)
			}
		}
		for _, name := range refs.commands {
			checked++
			if !scenarios[name] {
				t.Errorf("%s runs scenario %s, which no binary declares", rel, name)
			}
		}
		for _, l := range refs.links {
			if strings.Contains(l, "://") || strings.HasPrefix(l, "mailto:") {
				continue
			}
			target, anchor, _ := strings.Cut(l, "#")
			full := file
			if target != "" {
				full = filepath.Join(filepath.Dir(file), target)
			}
			checked++
			if _, err := os.Stat(full); err != nil {
				t.Errorf("%s links to %s, which does not exist", rel, l)
				continue
			}
			if anchor != "" && strings.HasSuffix(full, ".md") && !slices.Contains(headingAnchors(t, full), anchor) {
				t.Errorf("%s links to %s: %s has no heading with that anchor", rel, l, target)
			}
		}
	}
	t.Logf("%d references in %d documents", checked, len(files))
	if checked < 50 {
		t.Errorf("checked only %d references in %d documents; the patterns no longer find them", checked, len(files))
	}
}

// headingAnchors returns the anchors a Markdown renderer (GitHub's rule) gives a
// document's headings: lowercase, punctuation other than '-' and '_' dropped, spaces as
// '-'; a repeated heading gets -1, -2, ...
func headingAnchors(t *testing.T, file string) []string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	seen := map[string]int{}
	fenced := false
	for line := range strings.SplitSeq(string(b), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
		}
		m := heading.FindStringSubmatch(line)
		if fenced || m == nil {
			continue
		}
		a := slug(m[1])
		if n := seen[a]; n > 0 {
			out = append(out, a+"-"+strconv.Itoa(n))
		} else {
			out = append(out, a)
		}
		seen[a]++
	}
	return out
}

func slug(h string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(h) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}
