package adsload

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/casebook-ml/casebook/adsranking/openrtb"
	"github.com/casebook-ml/casebook/loadgen"
)

func TestParseSpec(t *testing.T) {
	def := DefaultConfig()
	with := func(f func(*Config)) Config { c := def; f(&c); return c }
	tests := []struct {
		spec    string
		want    Config
		wantErr string
	}{
		{"ads", def, ""},
		{" ads: ", def, ""},
		{"ads:pool=500,seed=7,tmax=120,hour=19,first-id=1000", Config{Pool: 500, Seed: 7, Tmax: 120, Hour: 19, FirstID: 1000}, ""},
		{"ads:tmax=0", with(func(c *Config) { c.Tmax = 0 }), ""},
		{"ads:hour=-1", def, ""},
		{"ads:hour=0", with(func(c *Config) { c.Hour = 0 }), ""},
		{"ads:pool=0", Config{}, "ads pool = 0, want 1..1000000"},
		{"ads:pool=1000001", Config{}, "ads pool = 1000001"},
		{"ads:tmax=-1", Config{}, "ads tmax = -1, want 0..5000 ms"},
		{"ads:tmax=5001", Config{}, "ads tmax = 5001"},
		{"ads:hour=24", Config{}, "ads hour = 24, want 0..23"},
		{"ads:hour=-2", Config{}, "ads hour = -2"},
		{"ads:tmax=fast", Config{}, `tmax="fast" is not a number`},
		{"ads:seed=-1", Config{}, `seed="-1" is not a number`},
		{"ads:users=5", Config{}, `unknown key "users"`},
		{"ads:pool", Config{}, `"pool" is not key=value`},
		{"recsys", Config{}, "is not an ads workload"},
	}
	for _, tc := range tests {
		got, err := ParseSpec(tc.spec)
		if tc.wantErr == "" {
			if err != nil || got != tc.want {
				t.Errorf("ParseSpec(%q) = %+v, %v; want %+v", tc.spec, got, err, tc.want)
			}
			continue
		}
		if !errors.Is(err, loadgen.ErrBadWorkload) || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("ParseSpec(%q) = %v, want ErrBadWorkload mentioning %q", tc.spec, err, tc.wantErr)
		}
	}
}

func TestIsSpec(t *testing.T) {
	for spec, want := range map[string]bool{"ads": true, "ads:tmax=10": true, " ads": true, "adsx": false, "recsys": false, "": false} {
		if got := IsSpec(spec); got != want {
			t.Errorf("IsSpec(%q) = %v, want %v", spec, got, want)
		}
	}
}

func TestTargetURL(t *testing.T) {
	tests := []struct {
		target, want, wantErr string
	}{
		{"http://127.0.0.1:8090", "http://127.0.0.1:8090/openrtb2/auction", ""},
		{"http://127.0.0.1:8090/", "http://127.0.0.1:8090/openrtb2/auction", ""},
		{"http://127.0.0.1:8090/ads/", "http://127.0.0.1:8090/ads/openrtb2/auction", ""},
		{"http://127.0.0.1:8090/openrtb2/auction", "http://127.0.0.1:8090/openrtb2/auction", ""},
		{"http://127.0.0.1:8090/openrtb2/auction?debug=1", "http://127.0.0.1:8090/openrtb2/auction?debug=1", ""},
		{"http://127.0.0.1:8090/?x=1", "", "without a query"},
		{"http://127.0.0.1:8090/{{key}}", "", "{{key}}"},
		{"nats://127.0.0.1:4222", "", "must be http://HOST:PORT"},
		{"::bad", "", "--target"},
	}
	for _, tc := range tests {
		got, err := TargetURL(tc.target)
		if tc.wantErr == "" && (err != nil || got != tc.want) {
			t.Errorf("TargetURL(%q) = %q, %v; want %q", tc.target, got, err, tc.want)
		}
		if tc.wantErr != "" && (!errors.Is(err, loadgen.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("TargetURL(%q) = %q, %v; want ErrInvalidConfig mentioning %q", tc.target, got, err, tc.wantErr)
		}
	}
}

func TestFormatID(t *testing.T) {
	tests := []struct {
		n    uint64
		want string
	}{
		{0, "r00000000000000000000"},
		{1, "r00000000000000000001"},
		{1234567890, "r00000000001234567890"},
		{1<<64 - 1, "r18446744073709551615"},
	}
	for _, tc := range tests {
		if got := FormatID(tc.n); got != tc.want {
			t.Errorf("FormatID(%v) = %v, want %v", tc.n, got, tc.want)
		}
	}
}

// newSmall builds a workload with a small pool, which is what tests need and what keeps
// them fast (the world itself takes ~0.1 s).
func newSmall(t testing.TB, f func(*Config)) *Workload {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Pool = 2000
	if f != nil {
		f(&cfg)
	}
	w, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// TestBodiesAreValidRequests: every pooled body and every sent one decodes with the
// bidder's own openrtb.Decode; each send has the next id, in the body and in Request.ID,
// its placement's tag id as Key, and the configured tmax; sent bodies do not share memory.
func TestBodiesAreValidRequests(t *testing.T) {
	w := newSmall(t, func(c *Config) { c.Tmax, c.FirstID = 80, 1<<40 })
	for i := range w.Len() {
		req, err := openrtb.Decode(bytes.NewReader(w.Body(i)), openrtb.DefaultMaxBytes)
		if err != nil {
			t.Fatalf("Decode(pool body %d) = %v, want a valid request:\n%s", i, err, w.Body(i))
		}
		if req.ID != idPlaceholder || req.Tmax != 80 {
			t.Fatalf("pool body %d has id %q and tmax %d, want %q and 80", i, req.ID, req.Tmax, idPlaceholder)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 5000
	ids := map[string]bool{}
	var sent [][]byte
	for i := range n {
		r := w.Next(rng)
		req, err := openrtb.Decode(bytes.NewReader(r.Body), openrtb.DefaultMaxBytes)
		if err != nil {
			t.Fatalf("Decode(send %d) = %v, want a valid request:\n%s", i, err, r.Body)
		}
		if want := FormatID(1<<40 + uint64(i)); req.ID != want || r.ID != want {
			t.Fatalf("send %d has id %q (Request.ID %q), want %q", i, req.ID, r.ID, want)
		}
		if ids[req.ID] {
			t.Fatalf("send %d repeats id %q", i, req.ID)
		}
		ids[req.ID] = true
		if r.Key != req.Imp[0].TagID || w.Imps(r.Key) == nil || len(w.Imps(r.Key)) != len(req.Imp) {
			t.Fatalf("send %d has Key %q for tag %q with %d imps, want the tag and its imps", i, r.Key, req.Imp[0].TagID, len(req.Imp))
		}
		if req.Tmax != 80 || req.User == nil || req.Device == nil || (req.Site == nil) == (req.App == nil) {
			t.Fatalf("send %d = %+v, want tmax 80, a user, a device and one of site and app", i, req)
		}
		if cap(r.Body) != len(r.Body) {
			t.Fatalf("send %d has cap %d > len %d: an append could spill into the next body", i, cap(r.Body), len(r.Body))
		}
		sent = append(sent, r.Body)
	}
	// Later sends must not have overwritten earlier ones (the copies share blocks).
	for i, b := range sent {
		if want := `{"id":"` + FormatID(1<<40+uint64(i)) + `"`; !bytes.HasPrefix(b, []byte(want)) {
			t.Fatalf("send %d now starts %.40q, want %q: a later send overwrote it", i, b, want)
		}
	}
	notes := strings.Join(w.Notes(), "\n")
	for _, want := range []string{"a pool of 2000 bodies over", "5000 requests sent, ids r00000001099511627776..r00000001099511632775", "follow sim.HourlyTraffic"} {
		if !strings.Contains(notes, want) {
			t.Errorf("Notes() = %q, want it to mention %q", notes, want)
		}
	}
}

// TestDeterminism: the same pool seed and the same run seed send the same bytes; another
// pool seed or run seed sends others.
func TestDeterminism(t *testing.T) {
	run := func(w *Workload, seed uint64) []string {
		rng := rand.New(rand.NewPCG(seed, 0))
		out := make([]string, 200)
		for i := range out {
			out[i] = string(w.Next(rng).Body)
		}
		return out
	}
	base := run(newSmall(t, nil), 1)
	tests := []struct {
		name      string
		pool, run uint64
		same      bool
	}{
		{"same seeds", 0, 1, true},
		{"another pool seed", 3, 1, false},
		{"another run seed", 0, 2, false},
	}
	for _, tc := range tests {
		got := run(newSmall(t, func(c *Config) { c.Seed = tc.pool }), tc.run)
		same := strings.Join(got, "\n") == strings.Join(base, "\n")
		if same != tc.same {
			t.Errorf("%s: sequence equal to the base run = %v, want %v", tc.name, same, tc.same)
		}
	}
}

// TestFixedHour: fixing the hour draws from a stream of its own, so the pool's users and
// placements stay those of the diurnal pool; the notes say which mode ran.
func TestFixedHour(t *testing.T) {
	diurnal, fixed := newSmall(t, nil), newSmall(t, func(c *Config) { c.Hour = 3 })
	for i := range diurnal.Len() {
		if !bytes.Equal(diurnal.Body(i), fixed.Body(i)) {
			t.Fatalf("pool body %d differs with a fixed hour:\n%s\n%s", i, diurnal.Body(i), fixed.Body(i))
		}
	}
	if fixed.hours[3] != fixed.Len() {
		t.Errorf("hour 3 holds %d of %d bodies, want all", fixed.hours[3], fixed.Len())
	}
	if !strings.Contains(fixed.String(), "hour 3") || strings.Contains(strings.Join(fixed.Notes(), " "), "HourlyTraffic") {
		t.Errorf("String() = %q, Notes() = %q; want a fixed hour 3 and no diurnal note", fixed.String(), fixed.Notes())
	}
	// Diurnal hours follow sim.HourlyTraffic: the evening peak (20h, 7%) well above the
	// night trough (3h and 4h, 0.8%).
	if diurnal.hours[20] < 4*diurnal.hours[3] {
		t.Errorf("diurnal pool: hour 20 holds %d bodies, hour 3 %d; want the peak several times the trough", diurnal.hours[20], diurnal.hours[3])
	}
}

func BenchmarkNext(b *testing.B) {
	w := newSmall(b, nil)
	rng := rand.New(rand.NewPCG(1, 2))
	b.ReportAllocs()
	for b.Loop() {
		_ = w.Next(rng)
	}
}
