package scenario_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/casebook-ml/casebook/platform/scenario"
)

func testSet() scenario.Set {
	return scenario.Set{
		{Name: "demo/passes", Summary: "always holds", Run: func(_ context.Context, r *scenario.Report) error {
			r.Step("measure something")
			r.Measure("rate", 12.5, "events/s")
			r.Check("it holds", true)
			return nil
		}},
		{Name: "demo/fails-check", Summary: "a claim that does not hold", Run: func(_ context.Context, r *scenario.Report) error {
			r.Check("two equals three", false)
			return nil
		}},
		{Name: "demo/errors", Summary: "returns an error", Run: func(context.Context, *scenario.Report) error {
			return errors.New("server went away")
		}},
	}
}

func TestCommand(t *testing.T) {
	tests := []struct {
		args      []string
		wantErr   error  // nil: success
		wantOut   string // substring of stdout
		wantUsage bool
	}{
		{args: []string{"list"}, wantOut: "demo/passes"},
		{args: []string{"names"}, wantOut: "demo/passes\ndemo/fails-check\ndemo/errors\n"},
		{args: []string{"run", "demo/passes"}, wantOut: "rate = 12.50 events/s"},
		{args: []string{"run", "demo/fails-check"}, wantErr: errors.New("check failed: two equals three")},
		{args: []string{"run", "demo/errors"}, wantErr: errors.New("server went away")},
		{args: []string{"run", "nope"}, wantUsage: true},
		{args: []string{"run"}, wantUsage: true},
		{args: []string{"frobnicate"}, wantUsage: true},
		{args: nil, wantUsage: true},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out bytes.Buffer
			err := testSet().Command(context.Background(), tt.args, &out)
			switch {
			case tt.wantUsage:
				if !errors.Is(err, scenario.ErrUsage) {
					t.Fatalf("Command(%q) = %v, want a usage error", tt.args, err)
				}
			case tt.wantErr != nil:
				if err == nil || !strings.Contains(err.Error(), tt.wantErr.Error()) {
					t.Fatalf("Command(%q) = %v, want error containing %q", tt.args, err, tt.wantErr)
				}
			case err != nil:
				t.Fatalf("Command(%q) = %v, want nil", tt.args, err)
			}
			if !strings.Contains(out.String(), tt.wantOut) {
				t.Errorf("Command(%q) printed %q, want it to contain %q", tt.args, out.String(), tt.wantOut)
			}
		})
	}
}

func TestRunWritesJSON(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.json")
	var out bytes.Buffer
	err := testSet().Command(context.Background(), []string{"run", "demo/passes", "demo/fails-check", "--json", path}, &out)
	if err == nil {
		t.Fatalf("Command(run passes fails-check) = nil, want the failed check reported")
	}
	data, rerr := os.ReadFile(path)
	if rerr != nil {
		t.Fatal(rerr)
	}
	var results []scenario.Result
	if err := json.Unmarshal(data, &results); err != nil {
		t.Fatalf("results JSON: %v\n%s", err, data)
	}
	if len(results) != 2 || !results[0].OK || results[1].OK {
		t.Fatalf("results = %+v, want [ok, failed]", results)
	}
	if m := results[0].Measurements; len(m) != 1 || m[0].Name != "rate" || m[0].Value != 12.5 || m[0].Unit != "events/s" {
		t.Errorf("measurements = %+v, want rate 12.5 events/s", m)
	}
	if results[1].Error == "" || len(results[1].Checks) != 1 || results[1].Checks[0].OK {
		t.Errorf("failed result = %+v, want the failed check and its error", results[1])
	}
}

func TestTimingChecks(t *testing.T) {
	set := scenario.Set{{Name: "demo/slow", Summary: "a speed claim that misses", Run: func(_ context.Context, r *scenario.Report) error {
		r.Check("the answer is right", true)
		r.CheckTiming("p99 inside 1 ns", false)
		return nil
	}}}
	var out bytes.Buffer
	if _, err := set.Run(context.Background(), "demo/slow", &out); err == nil {
		t.Fatalf("Run(missed timing check) = nil, want a failure when a person runs it")
	}
	res, err := set.RunWith(context.Background(), "demo/slow", &out, scenario.RunOptions{TimingAdvisory: true})
	if err != nil {
		t.Fatalf("RunWith(TimingAdvisory) = %v, want the timing miss reported but not failing", err)
	}
	if len(res.Checks) != 2 || res.Checks[1].OK || !res.Checks[1].Timing {
		t.Errorf("checks = %+v, want the timing check recorded as missed", res.Checks)
	}
	failing := scenario.Set{{Name: "demo/wrong", Summary: "a correctness claim that fails", Run: func(_ context.Context, r *scenario.Report) error {
		r.Check("the answer is right", false)
		return nil
	}}}
	if _, err := failing.RunWith(context.Background(), "demo/wrong", &out, scenario.RunOptions{TimingAdvisory: true}); err == nil {
		t.Errorf("RunWith(TimingAdvisory) on a failed correctness check = nil, want failure")
	}
}

func TestWriteReport(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(scenario.ReportDirEnv, dir)
	path, err := scenario.WriteReport("r.html", func(w io.Writer) error { _, err := io.WriteString(w, "<p>ok</p>"); return err })
	if err != nil {
		t.Fatalf("WriteReport() error %v", err)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "<p>ok</p>" || filepath.Dir(path) != dir {
		t.Errorf("WriteReport() wrote %q to %s (%v), want <p>ok</p> in %s", b, path, err, dir)
	}
	failing := errors.New("half written")
	if _, err := scenario.WriteReport("bad.html", func(w io.Writer) error { io.WriteString(w, "<p>"); return failing }); !errors.Is(err, failing) {
		t.Errorf("WriteReport(failing writer) error %v, want %v", err, failing)
	}
	if _, err := os.Stat(filepath.Join(dir, "bad.html")); !os.IsNotExist(err) {
		t.Errorf("a failed report is left on disk (stat: %v)", err)
	}
	if _, err := scenario.WriteReport("../escape.html", func(io.Writer) error { return nil }); err == nil {
		t.Error("WriteReport(../escape.html) accepted a path, want an error")
	}
}

func TestRunWithObserve(t *testing.T) {
	var got []scenario.Line
	_, err := testSet().RunWith(context.Background(), "demo/passes", io.Discard, scenario.RunOptions{Observe: func(l scenario.Line) { got = append(got, l) }})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"step:measure something", "measure:rate = 12.50 events/s", "check:it holds"}
	if len(got) != len(want) {
		t.Fatalf("observed %d lines (%v), want %d", len(got), got, len(want))
	}
	for i, l := range got {
		if s := l.Kind + ":" + l.Text; s != want[i] {
			t.Errorf("line %d = %q, want %q", i, s, want[i])
		}
	}
	if got[1].Measurement == nil || got[1].Measurement.Value != 12.5 {
		t.Errorf("measure line carries %+v, want the measurement 12.5", got[1].Measurement)
	}
	if got[2].Check == nil || !got[2].Check.OK {
		t.Errorf("check line carries %+v, want an OK check", got[2].Check)
	}
}
