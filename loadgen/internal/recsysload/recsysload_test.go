package recsysload

import (
	"errors"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/casebook-ml/casebook/loadgen"
)

func TestParseSpec(t *testing.T) {
	tests := []struct {
		spec    string
		want    Config
		wantErr string
	}{
		{"recsys", DefaultConfig(), ""},
		{" recsys: ", DefaultConfig(), ""},
		{"recsys:users=100000,exponent=0.8,k=50,seed=7", Config{Users: 100000, Exponent: 0.8, K: 50, Seed: 7}, ""},
		{"recsys:k=1", Config{Users: 943, Exponent: 1.1, K: 1}, ""},
		{"recsys:users=0", Config{}, "recsys users = 0, want 1..10000000"},
		{"recsys:users=-5", Config{}, "recsys users = -5"},
		{"recsys:users=many", Config{}, `users="many" is not a number`},
		{"recsys:exponent=0", Config{}, "recsys exponent = 0, want in (0, 10]"},
		{"recsys:exponent=NaN", Config{}, "recsys exponent = NaN"},
		{"recsys:k=0", Config{}, "recsys k = 0, want 1..100"},
		{"recsys:k=101", Config{}, "recsys k = 101, want 1..100"},
		{"recsys:seed=-1", Config{}, `seed="-1" is not a number`},
		{"recsys:items=5", Config{}, `unknown key "items"`},
		{"recsys:users", Config{}, `"users" is not key=value`},
		{"fraud", Config{}, "is not a recsys workload"},
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
	for spec, want := range map[string]bool{"recsys": true, "recsys:k=5": true, " recsys": true, "recsysx": false, "zipf:10": false, "": false} {
		if got := IsSpec(spec); got != want {
			t.Errorf("IsSpec(%q) = %v, want %v", spec, got, want)
		}
	}
}

func TestTargetURL(t *testing.T) {
	tests := []struct {
		target, want, wantErr string
	}{
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080/v1/users/{{key}}/recommendations?k=10", ""},
		{"http://127.0.0.1:8080/", "http://127.0.0.1:8080/v1/users/{{key}}/recommendations?k=10", ""},
		{"http://127.0.0.1:8080/recsys/", "http://127.0.0.1:8080/recsys/v1/users/{{key}}/recommendations?k=10", ""},
		{"http://127.0.0.1:8080/u/{{key}}?n=3", "http://127.0.0.1:8080/u/{{key}}?n=3", ""},
		{"http://127.0.0.1:8080/?k=3", "", "without a query"},
		{"nats://127.0.0.1:4222", "", "must be http://HOST:PORT"},
		{"::bad", "", "--target"},
	}
	for _, tc := range tests {
		got, err := DefaultConfig().TargetURL(tc.target)
		if tc.wantErr == "" && (err != nil || got != tc.want) {
			t.Errorf("TargetURL(%q) = %q, %v; want %q", tc.target, got, err, tc.want)
		}
		if tc.wantErr != "" && (!errors.Is(err, loadgen.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("TargetURL(%q) = %q, %v; want ErrInvalidConfig mentioning %q", tc.target, got, err, tc.wantErr)
		}
	}
}

// TestWorkload: keys are user ids in 1..Users, GETs without a body; the popular users are
// the shuffled ids of the top ranks and get a Zipf share; the same seeds give the same
// sequence.
func TestWorkload(t *testing.T) {
	cfg := DefaultConfig()
	w, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	const n = 100_000
	rng := rand.New(rand.NewPCG(1, 2))
	count := map[int64]int{}
	var first []string
	for i := range n {
		r := w.Next(rng)
		id, err := strconv.ParseInt(r.Key, 10, 64)
		if err != nil || id < 1 || id > int64(cfg.Users) || r.Body != nil || r.ID != "" {
			t.Fatalf("Next() #%d = %+v, want a key in 1..%d and nothing else", i, r, cfg.Users)
		}
		count[id]++
		if i < 20 {
			first = append(first, r.Key)
		}
	}
	// Under s = 1.1 over 943 ranks, rank 0 gets 1/H(943, 1.1) ≈ 19% of the draws and rank
	// 1 about half that.
	top, second := float64(count[w.User(0)])/n, float64(count[w.User(1)])/n
	if top < 0.17 || top > 0.21 || second < 0.075 || second > 0.11 {
		t.Errorf("the two most popular users got %.3f and %.3f of requests, want about 0.19 and 0.09", top, second)
	}
	if w.User(0) == 1 && w.User(1) == 2 && w.User(2) == 3 {
		t.Errorf("popularity order is the id order; want it shuffled")
	}
	ids := make([]int64, cfg.Users)
	for r := range ids {
		ids[r] = w.User(r)
	}
	slices.Sort(ids)
	for i, id := range ids {
		if id != int64(i+1) {
			t.Fatalf("ranks map to ids %v..., want a permutation of 1..%d", ids[:10], cfg.Users)
		}
	}
	notes := strings.Join(w.Notes(), "\n")
	if !strings.Contains(notes, "100000 requests over") || !strings.Contains(notes, "user "+strconv.FormatInt(w.User(0), 10)+")") {
		t.Errorf("Notes() = %q, want the request count and the top user", notes)
	}

	w2, _ := New(cfg)
	rng2 := rand.New(rand.NewPCG(1, 2))
	for i, want := range first {
		if got := w2.Next(rng2).Key; got != want {
			t.Fatalf("second run Next() #%d = %q, want %q (same seeds, same sequence)", i, got, want)
		}
	}
	cfg.Seed = 1
	w3, _ := New(cfg)
	if w3.User(0) == w.User(0) && w3.User(1) == w.User(1) && w3.User(2) == w.User(2) {
		t.Errorf("seed 1 gave the same popular users as seed 0")
	}
}

func BenchmarkNext(b *testing.B) {
	w, err := New(DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	b.ReportAllocs()
	for b.Loop() {
		_ = w.Next(rng)
	}
}
