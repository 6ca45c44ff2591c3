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
		nil, {"nope"}, {"simulate"}, {"features", "--out", "x"}, {"eval", "--bogus"}, {"train"}, {"train", "--out", "x"},
		{"compare"}, {"compare", "--nats", "nats://127.0.0.1:1"}, {"compare", "--csv", "x", "extra"},
	} {
		if _, err := parse(args); !errors.Is(err, scenario.ErrUsage) {
			t.Errorf("parse(%q) = %v, want a usage error", args, err)
		}
	}
}

// simulate → features → eval → train on a small dataset, through the same run the binary
// calls; features and eval keep their offline store where --offline-dir says.
func TestCommands(t *testing.T) {
	dir := t.TempDir()
	csv, feat, scores := filepath.Join(dir, "tx.csv"), filepath.Join(dir, "feat.csv"), filepath.Join(dir, "scores.csv")
	offline := filepath.Join(dir, "offline")
	ctx := context.Background()
	for _, args := range [][]string{
		{"simulate", "--customers", "300", "--terminals", "600", "--days", "40", "--out", csv},
		{"features", "--csv", csv, "--out", feat, "--offline-dir", offline},
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
	if _, err := os.Stat(filepath.Join(offline, "manifest.json")); err != nil {
		t.Errorf("features --offline-dir kept no manifest: %v", err)
	}
	cfg, err := parse([]string{"eval", "--csv", csv, "--json", "--scores-out", scores, "--folds", "1", "--offline-dir", offline})
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
		want += m.Test.TestRows
	}
	if n := len(lines(t, scores)) - 1; n != want || n == 0 {
		t.Errorf("--scores-out has %d rows, want %d (every candidate's test transactions)", n, want)
	}
	if b := got.Build; b.Dir != offline || b.CustomerRows == 0 || b.ComputeSeconds <= 0 || b.WriteSeconds <= 0 || b.JoinSeconds <= 0 {
		t.Errorf("eval --json training_set_build = %+v, want rows and timings in %s", b, offline)
	}
	for _, m := range got.Report.Models {
		if m.TrainRows == 0 || m.TrainSeconds <= 0 {
			t.Errorf("eval --json %s: train_rows %d, train_seconds %v", m.Name, m.TrainRows, m.TrainSeconds)
		}
	}

	cfg, err = parse([]string{"train", "--csv", csv, "--json"})
	if err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := run(ctx, cfg, &out, &bytes.Buffer{}); err != nil {
		t.Fatalf("train = %v", err)
	}
	var tr casestudy.TrainOutput
	if err := json.Unmarshal(out.Bytes(), &tr); err != nil {
		t.Fatalf("train --json printed %q: %v", out.String(), err)
	}
	if tr.Transactions != len(txLines)-1 || len(tr.Models) != 2 || tr.Build.Dir != "" {
		t.Errorf("train --json = %+v, want %d transactions, 2 models and no kept store", tr, len(txLines)-1)
	}
	for _, m := range tr.Models {
		if m.TrainSeconds <= 0 || !(m.TrainAUC > 0.7) {
			t.Errorf("train %s: %.3fs, in-sample AUC %v", m.Name, m.TrainSeconds, m.TrainAUC)
		}
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
