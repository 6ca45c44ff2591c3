package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/casebook-ml/casebook/adsranking/openrtb"
	"github.com/casebook-ml/casebook/loadgen/loadgentest"
)

// fakeBidder stands in for the ad server: it decodes every request as the bidder does,
// answers a bid on the first impression for every other request and a paced-out no-bid
// for the rest, and records what it saw.
func fakeBidder(t *testing.T) (url string, seen func() (paths, ids []string, bad int)) {
	t.Helper()
	var (
		mu          sync.Mutex
		paths, reqs []string
		invalid     int
	)
	srv, err := loadgentest.Start("127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, err := openrtb.Decode(r.Body, openrtb.DefaultMaxBytes)
		mu.Lock()
		paths = append(paths, r.Method+" "+r.RequestURI)
		if err != nil {
			invalid++
		} else {
			reqs = append(reqs, req.ID)
		}
		n := len(reqs)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if err != nil {
			w.WriteHeader(openrtb.StatusFor(err))
			_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
			return
		}
		resp := openrtb.NoBid(req.ID, openrtb.NoBidPacedOut)
		if n%2 == 0 {
			resp = openrtb.BidResponse{ID: req.ID, SeatBid: []openrtb.SeatBid{{Bid: []openrtb.Bid{
				{ID: "b", ImpID: req.Imp[0].ID, Price: req.Imp[0].BidFloor}}}}}
		}
		_ = json.NewEncoder(w).Encode(resp)
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv.URL, func() ([]string, []string, int) {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), paths...), append([]string(nil), reqs...), invalid
	}
}

// TestAdsWorkloadEndToEnd: `--workload ads` with the bidder's base URL POSTs valid OpenRTB
// requests with unique ids to /openrtb2/auction, and the report tallies the answers.
func TestAdsWorkloadEndToEnd(t *testing.T) {
	url, seen := fakeBidder(t)
	code, stdout, stderr := runCLI("run", "--target", url, "--workload", "ads:pool=300,tmax=80,seed=4",
		"--rate", "500", "--duration", "400ms", "--progress", "0")
	if code != 0 {
		t.Fatalf("run = exit %d (%s), want 0", code, stderr)
	}
	for _, w := range []string{
		url + "/openrtb2/auction (OpenRTB, net/http client, answers decoded)",
		"ads: OpenRTB bid requests from a pool of 300 (seed 4, hours from sim.HourlyTraffic, tmax 80 ms)",
		"sent 200, ok 200, failed 0",
		"ads answers (200): bid 100 (50.00%), 1.00 bids each; no-bid: paced out (nbr 503) 100 (50.00%)",
		"ads workload: 200 requests sent, ids r00000000000000000001..r00000000000000000200",
	} {
		if !strings.Contains(stdout, w) {
			t.Errorf("report lacks %q:\n%s", w, stdout)
		}
	}
	paths, ids, bad := seen()
	if bad != 0 || len(ids) != 200 {
		t.Errorf("the bidder saw %d valid and %d invalid requests, want 200 and 0", len(ids), bad)
	}
	unique := map[string]bool{}
	for i, p := range paths {
		if p != "POST /openrtb2/auction" {
			t.Fatalf("request %d went to %q, want POST /openrtb2/auction", i, p)
		}
	}
	for _, id := range ids {
		unique[id] = true
	}
	if len(unique) != len(ids) {
		t.Errorf("%d distinct ids in %d requests, want all distinct", len(unique), len(ids))
	}
}

// TestAdsUsageErrors: bad ads command lines exit 2 before any load.
func TestAdsUsageErrors(t *testing.T) {
	url, seen := fakeBidder(t)
	run := func(extra ...string) []string {
		return append([]string{"run", "--target", url, "--rate", "10", "--duration", "1s"}, extra...)
	}
	tests := []struct {
		name    string
		args    []string
		wantMsg string
	}{
		{"unknown key", run("--workload", "ads:users=5"), `unknown key "users"`},
		{"empty pool", run("--workload", "ads:pool=0"), "ads pool = 0"},
		{"tmax too large", run("--workload", "ads:tmax=9000"), "ads tmax = 9000, want 0..5000 ms"},
		{"bad hour", run("--workload", "ads:hour=24"), "ads hour = 24"},
		{"with a body", run("--workload", "ads", "--body", `{"x":1}`), "drop --body"},
		{"lean client", run("--workload", "ads", "--http-client", "lean"), "drop --http-client lean"},
		{"target with a query", []string{"run", "--target", url + "/?x=1", "--workload", "ads", "--rate", "10", "--duration", "1s"}, "without a query"},
		{"nats target", []string{"run", "--target", "nats://127.0.0.1:4222", "--workload", "ads", "--rate", "10", "--duration", "1s"}, "must be http://HOST:PORT"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runCLI(tc.args...)
			if code != 2 || !strings.Contains(stderr, tc.wantMsg) {
				t.Errorf("loadgen %s = exit %d, %q; want exit 2 mentioning %q", strings.Join(tc.args, " "), code, stderr, tc.wantMsg)
			}
		})
	}
	if paths, _, _ := seen(); len(paths) != 0 {
		t.Errorf("the bidder received %d requests from bad command lines, want 0", len(paths))
	}
}
