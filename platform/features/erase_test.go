package features_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/platform/features"
	"github.com/casebook-ml/casebook/platform/features/featurestest"
)

// filesHolding walks dir and returns the files whose bytes contain s. Parquet compresses
// pages with Snappy, which keeps a string that occurs once and shares nothing with its
// neighbours as a literal: the subject below is chosen that way, and the test checks the
// scan finds it before it checks that it no longer does.
func filesHolding(t *testing.T, dir, s string) []string {
	t.Helper()
	var hits []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte(s)) {
			hits = append(hits, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hits
}

// TestForgetRemovesSubjectEverywhere: a subject's rows sit in two days, in current and in
// superseded partition versions (an append after a write, a backfill over it). After Forget
// no row of it is scanned, no file on disk holds its key, the manifest's history names no
// file that held it, and every other entity's rows are as before.
func TestForgetRemovesSubjectEverywhere(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	o, _ := openOffline(t, dir)
	const subject = "Q9876543210123Z"
	day := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	at := func(d, h int) time.Time { return day.Add(time.Duration(d)*24*time.Hour + time.Duration(h)*time.Hour) }
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(o.Append(ctx, "profile", []features.Row{featurestest.ProfileRow(subject, at(0, 1), 1, 30), featurestest.ProfileRow("u1", at(0, 2), 2, 31)}))
	must(o.Append(ctx, "profile", []features.Row{featurestest.ProfileRow("u2", at(0, 3), 3, 32)}))
	must(o.Append(ctx, "profile", []features.Row{featurestest.ProfileRow(subject, at(1, 1), 4, 33), featurestest.ProfileRow("u1", at(1, 2), 5, 34)}))
	must(o.Rewrite(ctx, "profile", []features.Row{featurestest.ProfileRow(subject, at(1, 1), 4, 35), featurestest.ProfileRow("u1", at(1, 2), 5, 34)}, "backfill"))
	must(o.Append(ctx, "profile", []features.Row{featurestest.ProfileRow("u3", at(2, 1), 6, 36)}))
	// A superseded version of day 3 that held the subject, then a backfill without it.
	must(o.Append(ctx, "profile", []features.Row{featurestest.ProfileRow(subject, at(3, 1), 7, 37), featurestest.ProfileRow("u4", at(3, 2), 8, 38)}))
	must(o.Rewrite(ctx, "profile", []features.Row{featurestest.ProfileRow("u4", at(3, 2), 8, 38)}, "backfill"))

	if hits := filesHolding(t, dir, subject); len(hits) < 4 {
		t.Fatalf("before Forget the subject is in %d files, want >= 4: the byte scan cannot see it", len(hits))
	}
	before, err := o.Scan(ctx, "profile", time.Time{}, time.Time{})
	must(err)

	st, err := o.Forget(ctx, "profile", []string{subject}, "erasure request")
	must(err)
	if st.Rows != 2 || st.Partitions != 3 || st.Files < 4 {
		t.Errorf("Forget stats = %+v, want 2 rows (current versions) in 3 partitions, >= 4 files deleted", st)
	}
	after, err := o.Scan(ctx, "profile", time.Time{}, time.Time{})
	must(err)
	var want []features.Row
	for _, r := range before {
		if r.Entity != subject {
			want = append(want, r)
		}
	}
	if len(after) != len(want) {
		t.Fatalf("Scan after Forget = %d rows, want %d", len(after), len(want))
	}
	for i := range want {
		if after[i].Entity != want[i].Entity || !after[i].Time.Equal(want[i].Time) || !after[i].Values[0].Equal(want[i].Values[0]) {
			t.Errorf("row %d after Forget = %s %v %v, want %s %v %v", i, after[i].Entity, after[i].Time, after[i].Values[0], want[i].Entity, want[i].Time, want[i].Values[0])
		}
	}
	if hits := filesHolding(t, dir, subject); len(hits) != 0 {
		t.Errorf("after Forget the subject's key is still on disk in %v", hits)
	}
	m := o.Manifest()
	for d, p := range m.Views["profile"].Partitions {
		var files []features.PartitionFile
		files = append(files, p.Files...)
		for _, r := range p.Replaced {
			files = append(files, r.Files...)
		}
		for _, f := range files {
			if _, err := os.Stat(filepath.Join(dir, f.Path)); err != nil {
				t.Errorf("manifest day %s names %s, which is gone: %v", d, f.Path, err)
			}
		}
	}
	// The store reopens from its manifest and reads the same.
	o2, _ := openOffline(t, dir)
	again, err := o2.Scan(ctx, "profile", time.Time{}, time.Time{})
	must(err)
	if len(again) != len(want) {
		t.Errorf("Scan after reopening = %d rows, want %d", len(again), len(want))
	}
	// Forgetting again finds nothing.
	if st, err := o2.Forget(ctx, "profile", []string{subject}, "erasure request"); err != nil || st != (features.EraseStats{}) {
		t.Errorf("second Forget = %+v, %v, want nothing", st, err)
	}
	if _, err := o2.Forget(ctx, "profile", []string{""}, "x"); !errors.Is(err, features.ErrEmptyEntityKey) {
		t.Errorf("Forget(empty key) = %v, want ErrEmptyEntityKey", err)
	}
	if _, err := o2.Forget(ctx, "ghost", []string{"x"}, "x"); !errors.Is(err, features.ErrUnknownView) {
		t.Errorf("Forget(unknown view) = %v, want ErrUnknownView", err)
	}
}

// TestPurgeAppliesRetention: rows older than the cutoff leave the store, whole days and the
// older part of the day the cutoff falls in; newer rows stay.
func TestPurgeAppliesRetention(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	o, _ := openOffline(t, dir)
	day := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var rows []features.Row
	for d := 0; d < 5; d++ {
		for h := 0; h < 24; h += 6 {
			rows = append(rows, featurestest.ProfileRow("u1", day.Add(time.Duration(d)*24*time.Hour+time.Duration(h)*time.Hour), uint64(d*24+h), int64(d*24+h)))
		}
	}
	if err := o.Append(ctx, "profile", rows); err != nil {
		t.Fatal(err)
	}
	cutoff := day.Add(2*24*time.Hour + 12*time.Hour) // keeps day 2 from noon on
	st, err := o.Purge(ctx, "profile", cutoff, "retention 90d")
	if err != nil {
		t.Fatal(err)
	}
	if st.Rows != 10 || st.Partitions != 3 {
		t.Errorf("Purge stats = %+v, want 10 rows in 3 partitions", st)
	}
	got, err := o.Scan(ctx, "profile", time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 10 {
		t.Errorf("Scan after Purge = %d rows, want 10", len(got))
	}
	for _, r := range got {
		if r.Time.Before(cutoff) {
			t.Errorf("row at %v survived a purge before %v", r.Time, cutoff)
		}
	}
	if old := o.Oldest("profile"); old.Before(cutoff) {
		t.Errorf("Oldest = %v, want >= %v", old, cutoff)
	}
	if len(o.Manifest().Views["profile"].Partitions) != 3 {
		t.Errorf("partitions after Purge = %d, want 3 (days 2, 3, 4)", len(o.Manifest().Views["profile"].Partitions))
	}
	if _, err := o.Purge(ctx, "profile", time.Time{}, "x"); !errors.Is(err, features.ErrInvalidValue) {
		t.Errorf("Purge(zero cutoff) = %v, want ErrInvalidValue", err)
	}
}
