package features_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/platform/features"
	"github.com/casebook-ml/casebook/platform/features/featurestest"
	"github.com/casebook-ml/casebook/platform/seal"
)

const (
	testKeyA = "k1:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
	testKeyB = "k1:ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1eff"
	testKeyC = "k2:aa0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1eaa"
)

func sealedOffline(t testing.TB, dir, spec string) *features.OfflineStore {
	t.Helper()
	reg, err := featurestest.Registry()
	if err != nil {
		t.Fatal(err)
	}
	cfg := features.DefaultOfflineConfig()
	cfg.Dir = dir
	if spec != "" {
		if cfg.Keyring, err = seal.ParseKeyring(spec); err != nil {
			t.Fatal(err)
		}
	}
	o, err := features.OpenOffline(cfg, reg)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func profileRows(day time.Time, n int) []features.Row {
	var rows []features.Row
	for i := 0; i < n; i++ {
		rows = append(rows, featurestest.ProfileRow(fmt.Sprintf("customer-%03d", i), day.Add(time.Duration(i)*time.Minute), uint64(i), int64(20+i)))
	}
	return rows
}

// TestOfflineSealed: with a keyring the files on disk hold no plaintext, the manifest records
// the key, the right key reads the rows back, and a missing key, a wrong key, a flipped
// byte, two files swapped and a sealed file replaced by a clear one are refused.
func TestOfflineSealed(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	day1 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	day2 := day1.AddDate(0, 0, 1)
	o := sealedOffline(t, dir, testKeyA)
	rows := append(profileRows(day1, 50), profileRows(day2, 50)...)
	if err := o.Append(ctx, "profile", rows); err != nil {
		t.Fatal(err)
	}
	p1 := o.Manifest().Views["profile"].Partitions["2026-11-01"].Files[0]
	p2 := o.Manifest().Views["profile"].Partitions["2026-11-02"].Files[0]
	if p1.KeyID != "k1" {
		t.Errorf("manifest records key %q, want k1", p1.KeyID)
	}
	f1 := filepath.Join(dir, p1.Path)
	b1, err := os.ReadFile(f1)
	if err != nil {
		t.Fatal(err)
	}
	for _, needle := range []string{"PAR1", "f_country", "customer-007", "profile"} {
		if bytes.Contains(b1, []byte(needle)) {
			t.Errorf("sealed partition file contains %q in the clear", needle)
		}
	}
	got, err := sealedOffline(t, dir, testKeyC+","+testKeyA).Scan(ctx, "profile", time.Time{}, time.Time{})
	if err != nil || len(got) != len(rows) || got[7].Entity != "customer-007" || got[7].Values[2].Str() != "c6" {
		t.Fatalf("Scan with the key (rotated behind k2) = %d rows, %v; want %d rows back", len(got), err, len(rows))
	}

	scanErr := func(spec string) error {
		t.Helper()
		rows, err := sealedOffline(t, dir, spec).Scan(ctx, "profile", time.Time{}, time.Time{})
		if err == nil {
			t.Errorf("Scan returned %d rows, want an error", len(rows))
		}
		return err
	}
	if err := scanErr(""); !errors.Is(err, seal.ErrUnknownKey) || !strings.Contains(err.Error(), "sealed with key k1, which this process does not have") {
		t.Errorf("Scan without a keyring = %v, want ErrUnknownKey naming k1", err)
	}
	if err := scanErr(testKeyC); !errors.Is(err, seal.ErrUnknownKey) {
		t.Errorf("Scan with only k2 = %v, want ErrUnknownKey", err)
	}
	if err := scanErr(testKeyB); !errors.Is(err, seal.ErrAuth) {
		t.Errorf("Scan with a wrong k1 = %v, want ErrAuth", err)
	}

	// Swap the two days' files: each opens only under its own path.
	b2, err := os.ReadFile(filepath.Join(dir, p2.Path))
	if err != nil {
		t.Fatal(err)
	}
	write := func(path string, b []byte) {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(f1, b2)
	if err := scanErr(testKeyA); !errors.Is(err, seal.ErrAuth) {
		t.Errorf("Scan with day 2's file under day 1's name = %v, want ErrAuth", err)
	}
	flipped := bytes.Clone(b1)
	flipped[len(flipped)/2] ^= 0x10
	write(f1, flipped)
	if err := scanErr(testKeyA); !errors.Is(err, seal.ErrAuth) {
		t.Errorf("Scan with a flipped byte = %v, want ErrAuth", err)
	}
	// A clear Parquet file put where the manifest says a sealed one is: refused.
	clearDir := t.TempDir()
	if err := sealedOffline(t, clearDir, "").Append(ctx, "profile", profileRows(day1, 50)); err != nil {
		t.Fatal(err)
	}
	clear, err := os.ReadFile(filepath.Join(clearDir, p1.Path))
	if err != nil {
		t.Fatal(err)
	}
	write(f1, clear)
	if err := scanErr(testKeyA); !errors.Is(err, features.ErrCorruptPartition) {
		t.Errorf("Scan with a clear file where a sealed one was = %v, want ErrCorruptPartition", err)
	}
}

// TestOfflineClearFilesStillRead: files written before encryption was turned on read the
// same with a keyring, and new files are sealed beside them.
func TestOfflineClearFilesStillRead(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	day1 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	if err := sealedOffline(t, dir, "").Append(ctx, "profile", profileRows(day1, 20)); err != nil {
		t.Fatal(err)
	}
	o := sealedOffline(t, dir, testKeyA)
	if err := o.Append(ctx, "profile", profileRows(day1.Add(12*time.Hour), 20)); err != nil {
		t.Fatal(err)
	}
	files := o.Manifest().Views["profile"].Partitions["2026-11-01"].Files
	if len(files) != 2 || files[0].KeyID != "" || files[1].KeyID != "k1" {
		t.Fatalf("files = %+v, want one clear and one sealed with k1", files)
	}
	got, err := o.Scan(ctx, "profile", time.Time{}, time.Time{})
	if err != nil || len(got) != 40 {
		t.Errorf("Scan(clear + sealed) = %d rows, %v; want 40", len(got), err)
	}
}

// TestForgetKeepsSealed: erasing a subject from a sealed store rewrites the partition sealed
// under the current key (recorded in the manifest), and the rows left read back.
func TestForgetKeepsSealed(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	day := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	o := sealedOffline(t, dir, testKeyA)
	if err := o.Append(ctx, "profile", profileRows(day, 20)); err != nil {
		t.Fatal(err)
	}
	st, err := o.Forget(ctx, "profile", []string{"customer-007"}, "erasure request")
	if err != nil || st.Rows != 1 {
		t.Fatalf("Forget = %+v, %v; want 1 row removed", st, err)
	}
	pf := o.Manifest().Views["profile"].Partitions["2026-11-01"].Files[0]
	if pf.KeyID != "k1" {
		t.Errorf("rewritten partition records key %q, want k1", pf.KeyID)
	}
	b, err := os.ReadFile(filepath.Join(dir, pf.Path))
	if err != nil {
		t.Fatal(err)
	}
	if !seal.IsSealed(b) || bytes.Contains(b, []byte("PAR1")) {
		t.Errorf("the partition Forget wrote is not sealed")
	}
	got, err := sealedOffline(t, dir, testKeyA).Scan(ctx, "profile", time.Time{}, time.Time{})
	if err != nil || len(got) != 19 {
		t.Fatalf("Scan after Forget = %d rows, %v; want 19", len(got), err)
	}
	for _, r := range got {
		if r.Entity == "customer-007" {
			t.Errorf("the forgotten subject is still read back")
		}
	}
}
