package console

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io"
	"strings"
	"time"
)

//go:embed templates/*.html
var templateFS embed.FS

// pageNames are the templates besides the layout, one per page.
var pageNames = []string{"error", "login", "models", "model", "card", "audit", "confirm", "done", "serving", "monitoring", "scenarios", "run", "loadreports", "loadreport"}

// chart is one SVG figure on a page.
type chart struct {
	Title string
	SVG   template.HTML
}

type pages struct{ byName map[string]*template.Template }

var funcs = template.FuncMap{
	"short": func(s string) string {
		if len(s) > 12 {
			return s[:12]
		}
		return s
	},
	"f4":   func(v float64) string { return fmt.Sprintf("%.4f", v) },
	"f2":   func(v float64) string { return fmt.Sprintf("%.2f", v) },
	"time": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") },
	"join": strings.Join,
	"pct":  func(v float64) string { return fmt.Sprintf("%.1f%%", 100*v) },
}

func parsePages() (*pages, error) {
	layout, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("console templates: %w", err)
	}
	p := &pages{byName: map[string]*template.Template{}}
	for _, n := range pageNames {
		t, err := template.Must(layout.Clone()).ParseFS(templateFS, "templates/"+n+".html")
		if err != nil {
			return nil, fmt.Errorf("console template %s: %w", n, err)
		}
		p.byName[n] = t
	}
	return p, nil
}

// render executes a page into a buffer first, so a template error never leaves half a
// page behind.
func (p *pages) render(w io.Writer, name string, data page) error {
	t, ok := p.byName[name]
	if !ok {
		return fmt.Errorf("no template %q", name)
	}
	if data.Nav == "" {
		data.Nav = name
	}
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, "layout.html", data); err != nil {
		return fmt.Errorf("render %s: %w", name, err)
	}
	_, err := b.WriteTo(w)
	return err
}
