package features_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/platform/features"
	"github.com/casebook-ml/casebook/platform/features/featurestest"
)

func openOffline(t testing.TB, dir string) (*features.OfflineStore, *features.Registry) {
	t.Helper()
	reg, err := featurestest.Registry()
	if err != nil {
		t.Fatal(err)
	}
	cfg := features.DefaultOfflineConfig()
	cfg.Dir = dir
	o, err := features.OpenOffline(cfg, reg)
	if err != nil {
		t.Fatal(err)
	}
	return o, reg
}

// TestPointInTimeJoinNoLeaks plants, around every label, a row from just after the label
// time and a row just older than the TTL, and checks that neither is ever used; then
// compares the whole join with a brute-force reference on random data.
func TestPointInTimeJoinNoLeaks(t *testing.T) {
	ctx := context.Background()
	o, _ := openOffline(t, t.TempDir())
	const ttl = time.Hour // profile's TTL
	rng := rand.New(rand.NewPCG(3, 4))
	var rows []features.Row
	labels := features.Labels{Keys: map[string][]string{"customer_id": nil}}
	const future, expired = 999, 777
	for i := 0; i < 400; i++ {
		// One entity per label, so the planted rows can only ever be this label's.
		ent := fmt.Sprint("u", i)
		lt := t0.Add(time.Duration(rng.IntN(3*24*3600)) * time.Second)
		labels.Time = append(labels.Time, lt)
		labels.Keys["customer_id"] = append(labels.Keys["customer_id"], ent)
		rows = append(rows,
			featurestest.ProfileRow(ent, lt.Add(time.Nanosecond), uint64(i), future),
			featurestest.ProfileRow(ent, lt.Add(-ttl-time.Nanosecond), uint64(i), expired))
		if rng.IntN(2) == 0 { // a valid row half the time
			rows = append(rows, featurestest.ProfileRow(ent, lt.Add(-time.Duration(rng.IntN(3600))*time.Second), uint64(i), int64(rng.IntN(100))))
		}
	}
	planted := len(labels.Time)
	// Shared entities with many rows each, for the brute-force comparison.
	for i := 0; i < 400; i++ {
		ent := fmt.Sprint("s", rng.IntN(20))
		rt := t0.Add(time.Duration(rng.IntN(3*24*60)) * time.Minute)
		rows = append(rows, featurestest.ProfileRow(ent, rt, uint64(rng.IntN(3)), int64(rng.IntN(100))))
		labels.Time = append(labels.Time, t0.Add(time.Duration(rng.IntN(3*24*60))*time.Minute))
		labels.Keys["customer_id"] = append(labels.Keys["customer_id"], fmt.Sprint("s", rng.IntN(20)))
	}
	// Labels about entities with no rows at all.
	labels.Time = append(labels.Time, t0)
	labels.Keys["customer_id"] = append(labels.Keys["customer_id"], "never-seen")
	if err := o.Append(ctx, "profile", rows); err != nil {
		t.Fatal(err)
	}
	ts, err := o.TrainingSet(ctx, labels, []string{"profile:age", "profile:embedding", "profile:country"})
	if err != nil {
		t.Fatal(err)
	}
	age := ts.Columns[0]
	counts := map[features.Status]int{}
	for i := range labels.Time {
		counts[age.Status[i]]++
		if i < planted && age.Status[i] == features.Present && (age.Floats[i] == future || age.Floats[i] == expired) {
			t.Errorf("label %d (%s at %v) got the planted value %v", i, labels.Keys["customer_id"][i], labels.Time[i], age.Floats[i])
		}
		if age.AsOf[i] > labels.Time[i].UnixNano() {
			t.Errorf("label %d used a row from %v, after its time %v", i, time.Unix(0, age.AsOf[i]).UTC(), labels.Time[i])
		}
		if age.Status[i] != features.Present && age.Reason(i) == "" {
			t.Errorf("label %d is %v without a reason", i, age.Status[i])
		}
	}
	if counts[features.Present] == 0 || counts[features.Stale] == 0 || counts[features.Missing] == 0 {
		t.Errorf("statuses %v: want some of each", counts)
	}

	// The same join by brute force.
	all, err := o.Scan(ctx, "profile", time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(rows) {
		t.Fatalf("Scan returned %d rows, want %d", len(all), len(rows))
	}
	for i, lt := range labels.Time {
		var best *features.Row
		for k := range all {
			r := &all[k]
			if r.Entity == labels.Keys["customer_id"][i] && !r.Time.After(lt) && (best == nil || r.Newer(best)) {
				best = r
			}
		}
		want := features.FeatureValue{}
		if best != nil {
			want = features.Resolve(best.Values[0], best.Time, lt, ttl)
		}
		got := age.Status[i]
		if got != want.Status || (got == features.Present && age.Floats[i] != want.Value.Float()) {
			t.Errorf("label %d: join = %v %v, brute force = %v %v", i, got, age.Floats[i], want.Status, want.Value)
		}
		if emb := ts.Columns[1]; emb.Status[i] == features.Present && emb.Vectors[i][0] != float32(age.Floats[i]) {
			t.Errorf("label %d: embedding %v does not come from the same row as age %v", i, emb.Vectors[i], age.Floats[i])
		}
	}
}

// TestPartitionsAreImmutable checks that appends and rewrites make new versions and leave
// every earlier file as it was.
func TestPartitionsAreImmutable(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	o, _ := openOffline(t, dir)
	day1 := []features.Row{featurestest.ProfileRow("a", t0.Add(time.Hour), 1, 1), featurestest.ProfileRow("b", t0.Add(2*time.Hour), 2, 2)}
	if err := o.Append(ctx, "profile", day1); err != nil {
		t.Fatal(err)
	}
	v1 := o.Manifest().Views["profile"].Partitions["2026-01-05"]
	if err := o.Append(ctx, "profile", []features.Row{featurestest.ProfileRow("c", t0.Add(3*time.Hour), 3, 3)}); err != nil {
		t.Fatal(err)
	}
	if err := o.Rewrite(ctx, "profile", []features.Row{featurestest.ProfileRow("a", t0.Add(time.Hour), 9, 40)}, "backfill"); err != nil {
		t.Fatal(err)
	}
	p := o.Manifest().Views["profile"].Partitions["2026-01-05"]
	if p.Version != 3 || len(p.Replaced) != 2 || p.Reason != "backfill" || len(p.Files) != 1 {
		t.Errorf("partition after append, append, rewrite = version %d, %d replaced, reason %q, %d files; want 3, 2, backfill, 1", p.Version, len(p.Replaced), p.Reason, len(p.Files))
	}
	for _, f := range v1.Files {
		sum, err := sha256File(filepath.Join(dir, f.Path))
		if err != nil || sum != f.SHA256 {
			t.Errorf("version 1 file %s changed or vanished (sha %s, want %s, err %v)", f.Path, sum, f.SHA256, err)
		}
	}
	rows, err := o.Scan(ctx, "profile", time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].Values[0].Int() != 40 {
		t.Errorf("Scan after rewrite = %d rows (%v), want only the rewritten row", len(rows), rows)
	}

	// Bad rows are rejected before anything is written.
	bad := featurestest.ProfileRow("x", t0.Add(30*time.Hour), 1, 1)
	bad.Values[1] = features.Float(math.Inf(1))
	before := o.Manifest()
	err = o.Append(ctx, "profile", []features.Row{featurestest.ProfileRow("y", t0.Add(30*time.Hour), 1, 1), bad})
	if !errors.Is(err, features.ErrInvalidValue) {
		t.Errorf("Append(infinite value) = %v, want ErrInvalidValue", err)
	}
	if got := o.Manifest(); len(got.Views["profile"].Partitions) != len(before.Views["profile"].Partitions) {
		t.Errorf("a rejected append created a partition")
	}

	// A second process opening the directory sees the same views and rows.
	reg2 := features.NewRegistry()
	cfg := features.DefaultOfflineConfig()
	cfg.Dir = dir
	o2, err := features.OpenOffline(cfg, reg2)
	if err != nil {
		t.Fatal(err)
	}
	if names := reg2.ViewNames(); len(names) != 1 || names[0] != "profile" {
		t.Errorf("reopened registry holds %v, want [profile]", names)
	}
	rows2, err := o2.Scan(ctx, "profile", time.Time{}, time.Time{})
	if err != nil || len(rows2) != 1 || !rows2[0].Values[4].Equal(rows[0].Values[4]) {
		t.Errorf("reopened Scan = %v, %v; want the rewritten row", rows2, err)
	}
}

func sha256File(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%x", sha256Sum(b)), nil
}
