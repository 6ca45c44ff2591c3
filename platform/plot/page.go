package plot

import (
	"bytes"
	"fmt"
	"html/template"
	"io"
	"regexp"
	"strings"
)

// Page is a self-contained HTML report: inline CSS and SVG, no script and nothing loaded
// from the network, so it can be mailed, archived or opened from disk.
type Page struct {
	Title    string
	Subtitle string   // a line under the title, such as when and from what it was generated
	Intro    []string // paragraphs before the first section
	Sections []Section
}

// Section is a heading followed by blocks in order.
type Section struct {
	Heading string
	Blocks  []Block
}

// Block is one element of a section: Paragraph, List, Note, Code, KeyValues, Table or Figure.
type Block interface {
	html() (template.HTML, error)
}

// Paragraph is plain prose; it is escaped, not interpreted.
type Paragraph string

// List is a bulleted list of plain-text items.
type List []string

// Note is a highlighted paragraph, for "no data" explanations and caveats.
type Note string

// Code is preformatted text (a JSON record, a command), escaped and shown as is.
type Code string

// KV is one row of a KeyValues table.
type KV struct {
	Key, Value string
}

// KeyValues is a two-column table of named numbers.
type KeyValues []KV

// Table is a table with an optional caption and header. Cells that look like numbers are
// right-aligned so their digits line up.
type Table struct {
	Caption string
	Header  []string
	Rows    [][]string
}

// Figure is a chart with a caption saying how to read it.
type Figure struct {
	Chart   Chart
	Caption string
}

var (
	_ Block = Paragraph("")
	_ Block = List(nil)
	_ Block = Note("")
	_ Block = Code("")
	_ Block = KeyValues(nil)
	_ Block = Table{}
	_ Block = Figure{}
)

func (p Paragraph) html() (template.HTML, error) { return execBlock("p", string(p)) }
func (l List) html() (template.HTML, error)      { return execBlock("list", []string(l)) }
func (n Note) html() (template.HTML, error)      { return execBlock("note", string(n)) }
func (c Code) html() (template.HTML, error)      { return execBlock("code", string(c)) }
func (kv KeyValues) html() (template.HTML, error) {
	return execBlock("kv", []KV(kv))
}

type cell struct {
	Text string
	Num  bool
}

var numeric = regexp.MustCompile(`^[-+−]?[0-9][0-9,._ ]*(e[-+]?[0-9]+)?\s*(%|‰|ms|µs|us|ns|s|k|M|G|/s|×)?$`)

func (t Table) html() (template.HTML, error) {
	rows := make([][]cell, len(t.Rows))
	for i, r := range t.Rows {
		rows[i] = make([]cell, len(r))
		for j, s := range r {
			rows[i][j] = cell{s, numeric.MatchString(strings.TrimSpace(s))}
		}
	}
	return execBlock("table", struct {
		Caption string
		Header  []string
		Rows    [][]cell
	}{t.Caption, t.Header, rows})
}

func (f Figure) html() (template.HTML, error) {
	if f.Chart == nil {
		return "", fmt.Errorf("figure %q: no chart", f.Caption)
	}
	svg, err := f.Chart.SVG()
	if err != nil {
		return "", err
	}
	return execBlock("figure", struct {
		SVG     template.HTML
		Caption string
	}{svg, f.Caption})
}

func execBlock(name string, data any) (template.HTML, error) {
	var b bytes.Buffer
	if err := blocks.ExecuteTemplate(&b, name, data); err != nil {
		return "", err
	}
	// Safe: the block templates are html/template, which escaped the data.
	return template.HTML(b.String()), nil
}

// Write renders the page. Every chart is drawn before anything is written, so an error
// leaves w untouched.
func (p Page) Write(w io.Writer) error {
	type section struct {
		Heading string
		ID      string
		Blocks  []template.HTML
	}
	view := struct {
		Title, Subtitle string
		Intro           []string
		Sections        []section
	}{Title: p.Title, Subtitle: p.Subtitle, Intro: p.Intro}
	for i, s := range p.Sections {
		sec := section{Heading: s.Heading, ID: fmt.Sprintf("s%d", i+1)}
		for j, b := range s.Blocks {
			if b == nil {
				continue
			}
			h, err := b.html()
			if err != nil {
				return fmt.Errorf("page %q: section %q block %d: %w", p.Title, s.Heading, j+1, err)
			}
			sec.Blocks = append(sec.Blocks, h)
		}
		view.Sections = append(view.Sections, sec)
	}
	var b bytes.Buffer
	if err := page.Execute(&b, view); err != nil {
		return fmt.Errorf("page %q: %w", p.Title, err)
	}
	if _, err := w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("page %q: write: %w", p.Title, err)
	}
	return nil
}

var blocks = template.Must(template.New("blocks").Parse(`
{{define "p"}}<p>{{.}}</p>{{end}}
{{define "note"}}<p class="note">{{.}}</p>{{end}}
{{define "code"}}<pre><code>{{.}}</code></pre>{{end}}
{{define "list"}}<ul>{{range .}}<li>{{.}}</li>{{end}}</ul>{{end}}
{{define "kv"}}<table class="kv"><tbody>{{range .}}<tr><th scope="row">{{.Key}}</th><td>{{.Value}}</td></tr>{{end}}</tbody></table>{{end}}
{{define "table"}}<table>{{with .Caption}}<caption>{{.}}</caption>{{end}}{{if .Header}}<thead><tr>{{range .Header}}<th scope="col">{{.}}</th>{{end}}</tr></thead>{{end}}<tbody>{{range .Rows}}<tr>{{range .}}<td{{if .Num}} class="num"{{end}}>{{.Text}}</td>{{end}}</tr>{{end}}</tbody></table>{{end}}
{{define "figure"}}<figure>{{.SVG}}{{with .Caption}}<figcaption>{{.}}</figcaption>{{end}}</figure>{{end}}
`))

var page = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;color:#222;max-width:860px;margin:2rem auto;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}
h2{font-size:1.25rem;margin-top:2.2rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}
.subtitle{color:#666;margin-top:0}
nav ol{padding-left:1.2rem;color:#555}
table{border-collapse:collapse;margin:1rem 0;font-size:.9rem}
caption{text-align:left;font-weight:600;padding-bottom:.3rem}
th,td{border-bottom:1px solid #e4e4e4;padding:.25rem .7rem;text-align:left;vertical-align:top}
thead th{border-bottom:2px solid #bbb}
td.num,.kv td{text-align:right;font-variant-numeric:tabular-nums}
.kv th{font-weight:normal;color:#444}
figure{margin:1.2rem 0}
figcaption{color:#444;font-size:.9rem;margin-top:.3rem}
.note{background:#fff8e5;border-left:4px solid #e69f00;padding:.5rem .8rem}
pre{background:#f6f6f6;padding:.5rem .8rem;overflow-x:auto;font-size:.8rem}
svg{display:block}
@media print{h2{break-after:avoid}figure{break-inside:avoid}}
</style>
</head>
<body>
<h1>{{.Title}}</h1>
{{with .Subtitle}}<p class="subtitle">{{.}}</p>{{end}}
{{range .Intro}}<p>{{.}}</p>
{{end}}{{if gt (len .Sections) 1}}<nav><ol>{{range .Sections}}<li><a href="#{{.ID}}">{{.Heading}}</a></li>{{end}}</ol></nav>
{{end}}{{range .Sections}}<section id="{{.ID}}">
<h2>{{.Heading}}</h2>
{{range .Blocks}}{{.}}
{{end}}</section>
{{end}}</body>
</html>
`))
