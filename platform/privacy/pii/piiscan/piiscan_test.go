package piiscan

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every encoding of a planted id is found in a file tree, and nothing in a tree without it.
func TestScanDirFindsEveryEncoding(t *testing.T) {
	const id = 9876543210123
	ns := Needles([]int64{id})
	for _, n := range ns {
		dir := t.TempDir()
		if err := os.MkdirAll(filepath.Join(dir, "a", "b"), 0o755); err != nil {
			t.Fatal(err)
		}
		b := append([]byte("header "), n.Bytes...)
		if err := os.WriteFile(filepath.Join(dir, "a", "b", "f"), b, 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := ScanDir("t", dir, ns)
		if err != nil {
			t.Fatal(err)
		}
		if out.Hits == 0 || out.Files != 1 {
			t.Errorf("%s: %d hits in %d files, want ≥1 in 1", n.What, out.Hits, out.Files)
		}
	}
	dir := t.TempDir()
	other := binary.LittleEndian.AppendUint64([]byte("9876543210124 "), id+1)
	if err := os.WriteFile(filepath.Join(dir, "f"), other, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := ScanDir("t", dir, ns)
	if err != nil {
		t.Fatal(err)
	}
	if out.Hits != 0 {
		t.Errorf("another id: %d hits (%s), want 0", out.Hits, out.Example)
	}
}

// TestClean: an output that read nothing or holds a planted id is named; scanned, clean
// outputs pass.
func TestClean(t *testing.T) {
	ns := Needles([]int64{9876543210123})
	clean := Output{Name: "clean"}
	clean.Scan("f", []byte("tk1_0011 nothing here"), ns)
	dirty := Output{Name: "dirty"}
	dirty.Scan("f", []byte(`{"customer":9876543210123}`), ns)
	if err := Clean([]Output{clean}); err != nil {
		t.Errorf("Clean(a scanned, clean output) = %v, want nil", err)
	}
	for _, outs := range [][]Output{{clean, {Name: "empty"}}, {clean, dirty}} {
		if err := Clean(outs); err == nil || !strings.Contains(err.Error(), outs[1].Name) {
			t.Errorf("Clean(%s) = %v, want an error naming it", outs[1].Name, err)
		}
	}
}
