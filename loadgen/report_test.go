package loadgen_test

import (
	"bytes"
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/loadgen"
)

// namedTarget answers at once and has a name that needs escaping in HTML.
type namedTarget struct{ instantTarget }

func (*namedTarget) String() string { return `<b>"target"</b>` }

func sampleReport(t *testing.T, mode loadgen.Mode) *loadgen.Report {
	t.Helper()
	cfg := loadgen.DefaultConfig()
	cfg.Mode = mode
	cfg.Users = 2
	cfg.ThinkTime = time.Millisecond
	cfg.Schedule = loadgen.Schedule{Profile: loadgen.Constant{PerSecond: 2000}, Poisson: true}
	cfg.Duration = 300 * time.Millisecond
	rep := run(t, cfg, &namedTarget{}, loadgen.Fixed{Body: []byte("{}")})
	slos, err := loadgen.ParseSLOs([]string{"p99<1s", "errors<0.1%"})
	if err != nil {
		t.Fatal(err)
	}
	if err := rep.CheckSLOs(slos); err != nil {
		t.Fatalf("CheckSLOs = %v, want nil against an instant target", err)
	}
	return rep
}

func TestReportJSONRoundTrip(t *testing.T) {
	for _, mode := range []loadgen.Mode{loadgen.Open, loadgen.Closed} {
		rep := sampleReport(t, mode)
		if len(rep.Series) == 0 || len(rep.Distribution) == 0 {
			t.Fatalf("%s report has %d windows and %d quantiles, want some of each", mode, len(rep.Series), len(rep.Distribution))
		}
		var buf bytes.Buffer
		if err := rep.WriteJSON(&buf); err != nil {
			t.Fatal(err)
		}
		got, err := loadgen.ReadJSON(&buf)
		if err != nil {
			t.Fatalf("ReadJSON: %v", err)
		}
		if !reflect.DeepEqual(got, rep) {
			t.Errorf("ReadJSON(WriteJSON(r)) = %+v, want %+v", got, rep)
		}
	}
}

func TestReportHTMLIsSelfContained(t *testing.T) {
	for _, mode := range []loadgen.Mode{loadgen.Open, loadgen.Closed} {
		var buf bytes.Buffer
		if err := sampleReport(t, mode).WriteHTML(&buf); err != nil {
			t.Fatal(err)
		}
		page := buf.String()
		if n := strings.Count(page, "<svg"); n != 3 {
			t.Errorf("%s report has %d inline <svg> plots, want 3", mode, n)
		}
		if n := strings.Count(page, `class="series"`); n < 5 {
			t.Errorf("%s report draws %d lines, want at least 5 (latency, rate and percentile series)", mode, n)
		}
		// Links within the page (its table of contents) load nothing; any other does.
		if n, local := strings.Count(page, "href="), strings.Count(page, `href="#`); n != local {
			t.Errorf("%s report links %d times outside itself; it must load nothing from elsewhere", mode, n-local)
		}
		for _, banned := range []string{"<script", "src=", "<link", "@import", "url("} {
			if strings.Contains(page, banned) {
				t.Errorf("%s report contains %q; it must load nothing from elsewhere", mode, banned)
			}
		}
		if strings.Contains(page, `<b>"target"</b>`) || !strings.Contains(page, "&lt;b&gt;") {
			t.Errorf("%s report does not escape the target name", mode)
		}
		if mode == loadgen.Closed && !strings.Contains(page, "uncorrected by construction") {
			t.Errorf("closed-loop HTML report does not say its latency is uncorrected by construction")
		}
	}
}

func TestReportText(t *testing.T) {
	tests := []struct {
		mode loadgen.Mode
		want []string
	}{
		{loadgen.Open, []string{"open loop", "achieved", "late sends", "corrected", "uncorrected", "p99.9", "SLO ok", "errors", "worst 0.1s window"}},
		{loadgen.Closed, []string{"CLOSED LOOP", "uncorrected by construction", "no target: closed loop"}},
	}
	for _, tc := range tests {
		var buf bytes.Buffer
		if err := sampleReport(t, tc.mode).WriteText(&buf); err != nil {
			t.Fatal(err)
		}
		for _, w := range tc.want {
			if !strings.Contains(buf.String(), w) {
				t.Errorf("%s text report lacks %q:\n%s", tc.mode, w, buf.String())
			}
		}
	}
}

func TestProgressLine(t *testing.T) {
	cfg := loadgen.DefaultConfig()
	cfg.Schedule = loadgen.Schedule{Profile: loadgen.Constant{PerSecond: 1000}}
	cfg.Duration = 350 * time.Millisecond
	cfg.ProgressEvery = 100 * time.Millisecond
	var buf bytes.Buffer
	e, err := loadgen.New(cfg, &instantTarget{}, loadgen.Fixed{}, &syncBuffer{b: &buf})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) < 2 || !strings.Contains(lines[0], "target 1000/s") || !strings.Contains(lines[0], "p99") || !strings.Contains(lines[0], "errors 0") {
		t.Errorf("progress = %q, want a few lines with rate, target, errors and p99", buf.String())
	}
}

func TestSetGeneratorCPU(t *testing.T) {
	r := &loadgen.Report{Sent: 20000, ElapsedS: 2}
	r.SetGeneratorCPU(500 * time.Millisecond)
	var b bytes.Buffer
	if err := r.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), `"generator_cpu_s": 0.5`) {
		t.Errorf("WriteJSON = %s, want generator_cpu_s 0.5", b.String())
	}
	var txt bytes.Buffer
	if err := r.WriteText(&txt); err != nil {
		t.Fatal(err)
	}
	if want := "0.50 s, 25.0 µs per request sent, 0.25 of a core"; !strings.Contains(txt.String(), want) {
		t.Errorf("WriteText = %s, want a note with %q", txt.String(), want)
	}
}
