package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/casebook-ml/casebook/fraud/internal/casestudy"
	"github.com/casebook-ml/casebook/platform/scenario"
)

func TestParseErrors(t *testing.T) {
	for _, args := range [][]string{
		nil, {"nope"}, {"simulate"}, {"features", "--out", "x"}, {"eval", "--bogus"},
	} {
		if _, err := parse(args); !errors.Is(err, scenario.ErrUsage) {
			t.Errorf("parse(%q) = %v, want a usage error", args, err)
		}
	}
}

// simulate → features → eval on a small dataset, through the same run the binary calls.
func TestCommands(t *testing.T) {
	dir := t.TempDir()
	csv, feat, scores := filepath.Join(dir, "tx.csv"), filepath.Join(dir, "feat.csv"), filepath.Join(dir, "scores.csv")
	ctx := context.Background()
	for _, args := range [][]string{
		{"simulate", "--customers", "300", "--terminals", "600", "--days", "40", "--out", csv},
		{"features", "--csv", csv, "--out", feat},
	} {
		cfg, err := parse(args)
		if err != nil {
			t.Fatalf("parse(%q) = %v", args, err)
		}
		if err := run(ctx, cfg, &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
			t.Fatalf("run(%q) = %v", args, err)
		}
	}
	txLines := lines(t, csv)
	if got := lines(t, feat); len(got) != len(txLines) || !strings.HasSuffix(got[0], "TERMINAL_ID_RISK_30DAY_WINDOW") {
		t.Fatalf("features wrote %d lines (header %q), want %d", len(got), got[0], len(txLines))
	}
	cfg, err := parse([]string{"eval", "--csv", csv, "--json", "--scores-out", scores, "--folds", "1"})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := run(ctx, cfg, &out, &bytes.Buffer{}); err != nil {
		t.Fatalf("eval = %v", err)
	}
	var got casestudy.EvalOutput
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("eval --json printed %q: %v", out.String(), err)
	}
	if got.Report.Selected == "" || got.Champion == 0 || len(got.Report.Models) != 3 {
		t.Errorf("eval --json = %+v, want 3 models, a selection and a champion", got.Report)
	}
	if th := got.Thresholds; th == nil || th.Thresholds.Review > th.Thresholds.Decline || th.Thresholds.ReviewsPerDay > float64(th.Policy.ReviewBudget) {
		t.Errorf("eval --json thresholds = %+v, want review ≤ decline within the review budget", got.Thresholds)
	}
	want := 0
	for _, m := range got.Report.Models {
		if m.Name == got.Report.Selected {
			want = m.Test.TestRows
		}
	}
	if n := len(lines(t, scores)) - 1; n != want || n == 0 {
		t.Errorf("--scores-out has %d rows, want %d", n, want)
	}
}

func lines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}
