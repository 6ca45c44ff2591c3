package loadgen

import (
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
)

func TestZipfSkew(t *testing.T) {
	z, err := NewZipf(`{"user":"{{key}}","n":{{seq}}}`, 1000, 1.1)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	counts := make([]int, 1000)
	const n = 200000
	for i := range n {
		req := z.Next(rng)
		k, err := strconv.Atoi(req.Key)
		if err != nil {
			t.Fatalf("key %q is not an entity id", req.Key)
		}
		counts[k]++
		if i == 0 {
			var body struct {
				User string `json:"user"`
				N    int    `json:"n"`
			}
			if err := json.Unmarshal(req.Body, &body); err != nil || body.User != req.Key || body.N != 1 {
				t.Fatalf("body %s = %+v (%v), want user %q and n 1", req.Body, body, err, req.Key)
			}
		}
	}
	// P(k) = (k+1)^-s / H(1000, s).
	h := 0.0
	for k := 1; k <= 1000; k++ {
		h += math.Pow(float64(k), -1.1)
	}
	for _, k := range []int{0, 1, 9, 99} {
		want := n * math.Pow(float64(k+1), -1.1) / h
		if got := float64(counts[k]); math.Abs(got-want) > 5*math.Sqrt(want)+1 {
			t.Errorf("entity %d drawn %v times, want %.0f (Zipf s=1.1)", k, got, want)
		}
	}
	top10 := 0
	for _, c := range counts[:10] {
		top10 += c
	}
	if frac := float64(top10) / n; frac < 0.4 {
		t.Errorf("top 1%% of entities got %.0f%% of requests, want a skewed >= 40%%", 100*frac)
	}
}

func TestOIPBody(t *testing.T) {
	o, err := NewOIP(16)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	req := o.Next(rng)
	var body struct {
		ID     string `json:"id"`
		Inputs []struct {
			Name     string    `json:"name"`
			Shape    []int     `json:"shape"`
			Datatype string    `json:"datatype"`
			Data     []float32 `json:"data"`
		} `json:"inputs"`
	}
	if err := json.Unmarshal(req.Body, &body); err != nil {
		t.Fatalf("OIP body %s is not JSON: %v", req.Body, err)
	}
	in := body.Inputs
	if body.ID != "1" || len(in) != 1 || in[0].Datatype != "FP32" || len(in[0].Data) != 16 || len(in[0].Shape) != 2 || in[0].Shape[1] != 16 {
		t.Fatalf("OIP body = %+v, want id 1 and one FP32 input of shape [1,16]", body)
	}
	for _, v := range in[0].Data {
		if v < 0 || v >= 1 {
			t.Errorf("feature %v outside [0, 1)", v)
		}
	}
}

func TestParseWorkload(t *testing.T) {
	good := []struct{ spec, body, want string }{
		{"fixed", `{"a":1}`, "fixed body (7 bytes)"},
		{"", "", "fixed body (0 bytes)"},
		{"zipf:100", "", "zipf template over 100 entities (s=1.1)"},
		{"zipf:100:0.8", `{"id":"{{key}}"}`, "zipf template over 100 entities (s=0.8)"},
		{"oip:32", "", "OIP v2 infer, 32 FP32 features"},
	}
	for _, tc := range good {
		w, err := ParseWorkload(tc.spec, tc.body)
		if err != nil {
			t.Errorf("ParseWorkload(%q) error = %v, want nil", tc.spec, err)
			continue
		}
		if got := describe(w); got != tc.want {
			t.Errorf("ParseWorkload(%q) = %s, want %s", tc.spec, got, tc.want)
		}
	}
	bad := []struct{ spec, body string }{
		{"zipf", ""},
		{"zipf:0", ""},
		{"zipf:10:-1", ""},
		{"zipf:10", `{"no":"placeholder"}`},
		{"oip:0", ""},
		{"oip:many", ""},
		{"fixed:1", ""},
		{"replay", ""},
	}
	for _, tc := range bad {
		if _, err := ParseWorkload(tc.spec, tc.body); !errors.Is(err, ErrBadWorkload) {
			t.Errorf("ParseWorkload(%q, %q) error = %v, want ErrBadWorkload", tc.spec, tc.body, err)
		}
	}
}

func TestCheckHost(t *testing.T) {
	tests := []struct {
		host    string
		allowed []string
		ok      bool
	}{
		{"127.0.0.1", nil, true},
		{"127.3.2.1", nil, true},
		{"::1", nil, true},
		{"[::1]", nil, true},
		{"localhost", nil, true},
		{"LocalHost", nil, true},
		{"10.0.0.5", nil, false},
		{"example.com", nil, false},
		{"0.0.0.0", nil, false},
		{"", nil, false},
		{"example.com", []string{"Example.com"}, true},
		{"10.0.0.5", []string{"10.0.0.5"}, true},
		{"10.0.0.6", []string{"10.0.0.5"}, false},
	}
	for _, tc := range tests {
		err := CheckHost(tc.host, tc.allowed)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrHostNotAllowed)) {
			t.Errorf("CheckHost(%q, %v) = %v, want ok=%v", tc.host, tc.allowed, err, tc.ok)
		}
	}
}
