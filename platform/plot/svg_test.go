package plot

import (
	"encoding/xml"
	"errors"
	"html/template"
	"io"
	"strings"
	"testing"
)

// svgDoc is what the tests read back from a rendered chart.
type svgDoc struct {
	count map[string]int // "rect.bar" → n; element name, dot, class
	text  []string       // character data of every <text>
}

// parseSVG checks that s is well-formed XML with an <svg> root and tallies its elements.
func parseSVG(t *testing.T, s template.HTML) svgDoc {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(string(s)))
	d.Strict = true
	doc := svgDoc{count: map[string]int{}}
	depth, inText := 0, false
	var cur strings.Builder
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v\n%s", err, s)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if depth == 0 && tok.Name.Local != "svg" {
				t.Fatalf("root element = %s, want svg", tok.Name.Local)
			}
			depth++
			key := tok.Name.Local
			for _, a := range tok.Attr {
				if a.Name.Local == "class" {
					key += "." + a.Value
				}
			}
			doc.count[key]++
			if tok.Name.Local == "text" {
				inText = true
				cur.Reset()
			}
		case xml.EndElement:
			depth--
			if tok.Name.Local == "text" {
				doc.text = append(doc.text, cur.String())
				inText = false
			}
		case xml.CharData:
			if inText {
				cur.Write(tok)
			}
		}
	}
	return doc
}

func (d svgDoc) hasText(sub string) bool {
	for _, s := range d.text {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
