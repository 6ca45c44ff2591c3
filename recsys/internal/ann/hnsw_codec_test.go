package ann

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"slices"
	"testing"
)

func smallIndex(t testing.TB, n int) (*HNSW, [][]float32) {
	t.Helper()
	data, err := Clustered(n+50, 16, 8, 0, 21)
	if err != nil {
		t.Fatal(err)
	}
	h, err := NewHNSW(16, DefaultHNSWConfig())
	if err != nil {
		t.Fatal(err)
	}
	mustAddAll(t, h, data[:n])
	return h, data
}

func TestHNSWMarshalRoundTrip(t *testing.T) {
	h, data := smallIndex(t, 2000)
	b, err := h.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	g, err := LoadHNSW(b)
	if err != nil {
		t.Fatalf("LoadHNSW = %v", err)
	}
	if g.Len() != h.Len() || g.Dim() != h.Dim() || g.Config() != withCapacity(h.Config(), 0) {
		t.Fatalf("loaded Len, Dim, Config = %d, %d, %+v, want %d, %d, %+v", g.Len(), g.Dim(), g.Config(), h.Len(), h.Dim(), h.Config())
	}
	same := func(stage string) {
		t.Helper()
		for i, q := range data {
			for _, ef := range []int{10, 64} {
				want := h.SearchEf(q, 10, ef, nil)
				got := g.SearchEf(q, 10, ef, nil)
				if !slices.Equal(got, want) {
					t.Fatalf("%s: query %d ef %d: loaded index found %v, original %v", stage, i, ef, got, want)
				}
			}
		}
	}
	same("after load")

	// The level generator's state travels too: the same later Adds give the same graph.
	for i := 2000; i < len(data); i++ {
		if err := h.Add(int64(i), data[i]); err != nil {
			t.Fatal(err)
		}
		if err := g.Add(int64(i), data[i]); err != nil {
			t.Fatal(err)
		}
	}
	same("after adds")
	if err := g.Add(5, data[5]); !errors.Is(err, ErrDuplicateID) {
		t.Errorf("loaded Add(existing id 5) = %v, want ErrDuplicateID", err)
	}

	empty, err := NewHNSW(16, DefaultHNSWConfig())
	if err != nil {
		t.Fatal(err)
	}
	eb, err := empty.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	e2, err := LoadHNSW(eb)
	if err != nil {
		t.Fatalf("LoadHNSW(empty) = %v", err)
	}
	if got := e2.Search(data[0], 3, nil); len(got) != 0 {
		t.Errorf("loaded empty index found %v", got)
	}
	if err := e2.Add(1, data[1]); err != nil {
		t.Errorf("Add to loaded empty index = %v", err)
	}
}

func withCapacity(c HNSWConfig, n int) HNSWConfig {
	c.InitialCapacity = n
	return c
}

// resum recomputes the trailing checksum, so a test can reach the structural checks.
func resum(b []byte) []byte {
	b = slices.Clone(b)
	binary.LittleEndian.PutUint32(b[len(b)-4:], crc32.Checksum(b[:len(b)-4], castagnoli))
	return b
}

func TestHNSWUnmarshalRefusesCorrupt(t *testing.T) {
	h, data := smallIndex(t, 300)
	good, err := h.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	rngLen := int(binary.LittleEndian.Uint32(good[headerSize-4:]))
	idsAt := headerSize + rngLen
	levelsAt := idsAt + 300*8
	vecsAt := levelsAt + 300
	links0At := vecsAt + 300*16*4
	put32 := func(off int, v uint32) []byte {
		b := slices.Clone(good)
		binary.LittleEndian.PutUint32(b[off:], v)
		return b
	}
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"magic only", []byte(hnswMagic)},
		{"header only", good[:headerSize]},
		{"truncated by one byte", good[:len(good)-1]},
		{"truncated by half", good[:len(good)/2]},
		{"trailing byte", append(slices.Clone(good), 0)},
		{"wrong magic", append([]byte("CBANNXXX"), good[8:]...)},
		{"future version", put32(8, hnswVersion+1)},
		{"flipped body byte", func() []byte { b := slices.Clone(good); b[len(b)/2] ^= 0x40; return b }()},
		{"bad checksum", put32(len(good)-4, 0)},
		{"huge node count", resum(put32(8+4+5*4+8, 0xffffffff))},
		{"M 0", resum(put32(8+4+4, 0))},
		{"link out of range", resum(put32(links0At+4, 300))},
		{"negative link", resum(put32(links0At+4, 0xffffffff))},
		{"count over capacity", resum(put32(links0At, 33))},
		{"negative count", resum(put32(links0At, 0xfffffffe))},
		{"duplicate id", resum(func() []byte {
			b := slices.Clone(good)
			copy(b[idsAt+8:idsAt+16], b[idsAt:idsAt+8])
			return b
		}())},
		{"level too high", resum(func() []byte { b := slices.Clone(good); b[levelsAt] = 200; return b }())},
		{"nan component", resum(put32(vecsAt, 0x7fc00000))},
	} {
		g, err := LoadHNSW(tc.data)
		if !errors.Is(err, ErrCorrupt) || g != nil {
			t.Errorf("%s: LoadHNSW = %v, %v, want nil, ErrCorrupt", tc.name, g, err)
		}
	}

	// A failed UnmarshalBinary leaves the index as it was.
	before := h.Search(data[0], 5, nil)
	if err := h.UnmarshalBinary(good[:10]); !errors.Is(err, ErrCorrupt) {
		t.Errorf("UnmarshalBinary(truncated) = %v, want ErrCorrupt", err)
	}
	if after := h.Search(data[0], 5, nil); h.Len() != 300 || !slices.Equal(after, before) {
		t.Errorf("after a refused UnmarshalBinary: Len() = %d, Search = %v, want 300, %v", h.Len(), after, before)
	}
}

// FuzzLoadHNSW checks that no input makes LoadHNSW panic, and that whatever it accepts can
// be searched. `go test` runs the seeds; `go test -fuzz FuzzLoadHNSW` explores.
func FuzzLoadHNSW(f *testing.F) {
	h, data := smallIndex(f, 60)
	good, err := h.MarshalBinary()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)/3])
	f.Add([]byte(hnswMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := LoadHNSW(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("LoadHNSW error %v is not ErrCorrupt", err)
			}
			return
		}
		if g.Dim() == 16 {
			g.Search(data[0], 5, nil)
		}
		// A checksum-valid artifact with every byte of the body re-checked: mutate the
		// links and re-sum, which must still never panic.
		if len(b) > headerSize+8 {
			m := slices.Clone(b)
			m[len(m)-5] ^= 0xff
			if g2, err := LoadHNSW(resum(m)); err == nil && g2.Dim() == 16 {
				g2.Search(data[1], 5, nil)
			}
		}
	})
}
