package main

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/casebook-ml/casebook/loadgen/loadgentest"
)

// fakeRecommender stands in for the recsys server: it answers every request like the
// trivial server and records each one's method and request target.
func fakeRecommender(t *testing.T) (url string, seen func() []string) {
	t.Helper()
	var mu sync.Mutex
	var got []string
	h := loadgentest.TrivialHandler()
	srv, err := loadgentest.Start("127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Method+" "+r.RequestURI)
		mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv.URL, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), got...)
	}
}

// TestRecsysWorkloadEndToEnd: `--workload recsys` with a base URL sends GETs to
// /v1/users/{id}/recommendations?k=K for skewed user ids in 1..users, with either client.
func TestRecsysWorkloadEndToEnd(t *testing.T) {
	tests := []struct {
		name, spec, suffix string
		extra              []string
		users, k           int
	}{
		{"defaults", "recsys", "", nil, 943, 10},
		{"lean, trailing slash", "recsys:users=50,k=5,exponent=1.3", "/", nil, 50, 5},
		{"std client", "recsys:users=50,k=5,seed=3", "", []string{"--http-client", "std"}, 50, 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			url, seen := fakeRecommender(t)
			args := append([]string{"run", "--target", url + tc.suffix, "--workload", tc.spec, "--rate", "500", "--duration", "400ms", "--progress", "0"}, tc.extra...)
			code, stdout, stderr := runCLI(args...)
			if code != 0 {
				t.Fatalf("run = exit %d (%s), want 0", code, stderr)
			}
			for _, w := range []string{
				url + "/v1/users/{{key}}/recommendations?k=" + strconv.Itoa(tc.k),
				"recsys: k=" + strconv.Itoa(tc.k) + " for users 1.." + strconv.Itoa(tc.users),
				"sent 200, ok 200, failed 0",
				"recsys workload: 200 requests over",
			} {
				if !strings.Contains(stdout, w) {
					t.Errorf("report lacks %q:\n%s", w, stdout)
				}
			}
			re := regexp.MustCompile(`^GET /v1/users/(\d+)/recommendations\?k=` + strconv.Itoa(tc.k) + `$`)
			count := map[int]int{}
			reqs := seen()
			for _, r := range reqs {
				m := re.FindStringSubmatch(r)
				if m == nil {
					t.Fatalf("server saw %q, want GET /v1/users/ID/recommendations?k=%d", r, tc.k)
				}
				id, _ := strconv.Atoi(m[1])
				if id < 1 || id > tc.users {
					t.Fatalf("server saw user %d, want 1..%d", id, tc.users)
				}
				count[id]++
			}
			if len(reqs) != 200 {
				t.Errorf("server saw %d requests, want 200", len(reqs))
			}
			top := 0
			for _, n := range count {
				top = max(top, n)
			}
			// Zipf: the most popular user gets far more than an even share, and there is
			// more than one user.
			if len(count) < 5 || top < 4*len(reqs)/len(count) {
				t.Errorf("%d distinct users, the top one with %d of %d requests: not Zipf-skewed", len(count), top, len(reqs))
			}
		})
	}
}

// TestRecsysUsageErrors: bad recsys command lines exit 2 before any load.
func TestRecsysUsageErrors(t *testing.T) {
	url, seen := fakeRecommender(t)
	run := func(extra ...string) []string {
		return append([]string{"run", "--target", url, "--rate", "10", "--duration", "1s"}, extra...)
	}
	tests := []struct {
		name    string
		args    []string
		wantMsg string
	}{
		{"unknown key", run("--workload", "recsys:items=5"), `unknown key "items"`},
		{"no users", run("--workload", "recsys:users=0"), "recsys users = 0"},
		{"users not a number", run("--workload", "recsys:users=lots"), `users="lots" is not a number`},
		{"bad exponent", run("--workload", "recsys:exponent=-1"), "recsys exponent = -1"},
		{"k zero", run("--workload", "recsys:k=0"), "recsys k = 0, want 1..100"},
		{"k too large", run("--workload", "recsys:k=500"), "recsys k = 500, want 1..100"},
		{"not key=value", run("--workload", "recsys:943"), `"943" is not key=value`},
		{"with a body", run("--workload", "recsys", "--body", `{"x":1}`), "without a body"},
		{"target with a query", []string{"run", "--target", url + "/?k=3", "--workload", "recsys", "--rate", "10", "--duration", "1s"}, "without a query"},
		{"nats target", []string{"run", "--target", "nats://127.0.0.1:4222", "--workload", "recsys", "--rate", "10", "--duration", "1s"}, "must be http://HOST:PORT"},
		{"placeholder in host", []string{"run", "--target", "http://{{key}}.localhost/x", "--workload", "zipf:10", "--rate", "10", "--duration", "1s"}, "only in the path or the query"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runCLI(tc.args...)
			if code != 2 || !strings.Contains(stderr, tc.wantMsg) {
				t.Errorf("loadgen %s = exit %d, %q; want exit 2 mentioning %q", strings.Join(tc.args, " "), code, stderr, tc.wantMsg)
			}
		})
	}
	if n := len(seen()); n != 0 {
		t.Errorf("server received %d requests from bad command lines, want 0", n)
	}
}

// TestURLTemplateWithZipf: any workload's key can go in the URL; here zipf keys 0..N-1 in
// a query, with the body template as usual.
func TestURLTemplateWithZipf(t *testing.T) {
	url, seen := fakeRecommender(t)
	code, _, stderr := runCLI("run", "--target", url+"/score?entity={{key}}", "--workload", "zipf:20", "--rate", "200", "--duration", "200ms", "--progress", "0")
	if code != 0 {
		t.Fatalf("run = exit %d (%s), want 0", code, stderr)
	}
	re := regexp.MustCompile(`^POST /score\?entity=(1?\d)$`)
	reqs := seen()
	for _, r := range reqs {
		if !re.MatchString(r) {
			t.Fatalf("server saw %q, want POST /score?entity=0..19", r)
		}
	}
	if len(reqs) != 40 {
		t.Errorf("server saw %d requests, want 40", len(reqs))
	}
}
