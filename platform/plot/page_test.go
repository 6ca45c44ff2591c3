package plot

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
)

func TestPageWrite(t *testing.T) {
	p := Page{
		Title:    "Report <script>",
		Subtitle: "generated now",
		Intro:    []string{"How to read this & that."},
		Sections: []Section{
			{Heading: "Summary", Blocks: []Block{
				Paragraph("Plain <b>prose</b>."),
				KeyValues{{"transactions", "12,345"}, {"AUC", "0.93"}},
				Table{Caption: "per day", Header: []string{"day", "n"}, Rows: [][]string{{"Mar 1", "10"}, {"Mar 2", "1.5%"}}},
				List{"one", "two"},
				Note("no data for latency"),
				Code(`{"a": "<b>"}`),
			}},
			{Heading: "Charts", Blocks: []Block{
				Figure{Chart: Bars{Categories: []string{"a"}, Series: []BarSeries{{Values: []float64{1}}}}, Caption: "bars"},
				Figure{Chart: Lines{}, Caption: "empty lines"},
				nil, // skipped
			}},
		},
	}
	var b bytes.Buffer
	if err := p.Write(&b); err != nil {
		t.Fatalf("Write() error %v", err)
	}
	out := b.String()
	for _, want := range []string{
		"<!DOCTYPE html>", "<title>Report &lt;script&gt;</title>", "<h2>Summary</h2>", "<h2>Charts</h2>",
		"Plain &lt;b&gt;prose&lt;/b&gt;.", "How to read this &amp; that.", "<td>12,345</td>",
		`<td class="num">1.5%</td>`, "<td>Mar 1</td>", "<li>two</li>", `class="note"`,
		"<figcaption>bars</figcaption>", `class="nodata"`, `<a href="#s2">Charts</a>`,
		`<pre><code>{&#34;a&#34;: &#34;&lt;b&gt;&#34;}</code></pre>`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("Write() output lacks %q", want)
		}
	}
	if got := strings.Count(out, "<svg"); got != 2 {
		t.Errorf("Write() has %d <svg>, want 2", got)
	}
	for _, banned := range []string{"<script", "http://", "https://", "<link", "@import"} {
		// The SVG namespace URI is an identifier, not a fetch.
		if strings.Contains(strings.ReplaceAll(out, `xmlns="http://www.w3.org/2000/svg"`, ""), banned) {
			t.Errorf("Write() output contains %q: the page must be self-contained", banned)
		}
	}
}

func TestPageWriteErrors(t *testing.T) {
	bad := Lines{Series: []Series{{X: []float64{1, 2}, Y: []float64{math.NaN()}}}}
	var b bytes.Buffer
	err := Page{Title: "p", Sections: []Section{{Heading: "s", Blocks: []Block{Paragraph("x"), Figure{Chart: bad}}}}}.Write(&b)
	if !errors.Is(err, ErrLengthMismatch) {
		t.Errorf("Write() error = %v, want ErrLengthMismatch", err)
	}
	if b.Len() != 0 {
		t.Errorf("Write() wrote %d bytes before failing, want 0", b.Len())
	}
	if err := (Page{Sections: []Section{{Blocks: []Block{Figure{}}}}}).Write(&b); err == nil {
		t.Errorf("Write() with a chartless Figure: error = nil, want one")
	}
}
