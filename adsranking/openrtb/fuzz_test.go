package openrtb

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzDecode checks that Decode never panics, that every refusal is one of the sentinels
// with a 4xx status, and that every request it accepts passes Validate and survives a
// marshal round trip: what the bidder accepts, the load generator can send back.
func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, name := range files {
		if strings.Contains(name, "golden") {
			continue
		}
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		req(``), req(`,"site":null,"app":{"bundle":"b"}`), req(`,"ext":{"a":[1,{"b":null}]}`),
		imps(`{"id":"1","banner":{"format":[{"w":1,"h":2}]},"bidfloor":1e-7,"ext":{}}`),
		`{`, `null`, `[]`, `{"id":"x"} {}`, req(`,"tmax":-1`), imps(`{"id":"1","banner":{"w":1.5}}`),
	} {
		f.Add([]byte(s))
	}
	const limit = 1 << 16
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Decode(bytes.NewReader(data), limit)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("Decode(%q) = %v, want one of the sentinels", data, err)
			}
			if s := StatusFor(err); s != http.StatusBadRequest && s != http.StatusRequestEntityTooLarge {
				t.Fatalf("StatusFor(%v) = %d, want 400 or 413", err, s)
			}
			if r != nil {
				t.Fatalf("Decode(%q) returned a request with error %v", data, err)
			}
			return
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("Decode(%q) accepted a request that Validate refuses: %v", data, err)
		}
		m1, err := json.Marshal(r)
		if err != nil {
			t.Fatalf("Marshal(Decode(%q)) = %v", data, err)
		}
		r2, err := Decode(bytes.NewReader(m1), limit+int64(len(m1)))
		if err != nil {
			t.Fatalf("Decode(Marshal(Decode(%q))) = %v; marshaled %s", data, err, m1)
		}
		// Ext objects are compacted on the first marshal, so compare the second pass.
		m2, err := json.Marshal(r2)
		if err != nil || !bytes.Equal(m1, m2) {
			t.Fatalf("Marshal not stable for %q:\n%s\n%s (%v)", data, m1, m2, err)
		}
	})
}
