package bidder

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/adsranking/internal/pacing"
	"github.com/casebook-ml/casebook/adsranking/openrtb"
	"github.com/casebook-ml/casebook/adsranking/sim"
)

var update = flag.Bool("update", false, "rewrite testdata/decisions.golden from the current bidder")

// The bidder's decisions on a fixed world, model and request stream are pinned: winners,
// prices, pCTRs, counts and the encoded response of each of 400 requests, with PID pacing
// and the budget ledger on the path. Any change to the hot path (scoring, pacing, the
// auction, the response's encoding) must leave every line as it was; a change that means to
// move decisions rewrites the file with -update and says why. The clock stands still
// within a request, so the number of times the bidder reads it cannot move a decision.
func TestDecisionsGolden(t *testing.T) {
	f := world(t)
	var got bytes.Buffer
	// 1,000 candidates keeps every eligible ad of the small world; 40 makes the index
	// choose the best by bid × prior among more.
	for _, limit := range []int{1000, 40} {
		fmt.Fprintf(&got, "candidates=%d\n", limit)
		goldenRun(t, f, limit, &got)
	}
	path := filepath.Join("testdata", "decisions.golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		gl, wl := bytes.Split(got.Bytes(), []byte("\n")), bytes.Split(want, []byte("\n"))
		for i := range min(len(gl), len(wl)) {
			if !bytes.Equal(gl[i], wl[i]) {
				t.Fatalf("decisions differ from %s at line %d:\n got %s\nwant %s", path, i+1, gl[i], wl[i])
			}
		}
		t.Fatalf("decisions differ from %s: %d lines, want %d", path, len(gl), len(wl))
	}
}

// goldenRun bids on the golden requests with a fresh ledger and pacer and writes what
// happened to got.
func goldenRun(t *testing.T, f fixture, limit int, got *bytes.Buffer) {
	var now atomic.Int64
	now.Store(sim.Day.Add(9 * time.Hour).UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	led, err := pacing.NewLedger(pacing.DefaultLedgerConfig())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range f.w.Campaigns {
		if err := led.SetBudget(c.ID, pacing.FromDollars(c.Budget/20)); err != nil {
			t.Fatal(err)
		}
	}
	curve, err := pacing.NewDiurnal(sim.HourlyTraffic)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := pacing.NewPID(pacing.Plan{DayStart: sim.Day, Curve: curve}, pacing.DefaultPIDConfig(), led)
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Candidates = limit
	b, err := New(cfg, Deps{Inventory: f.ix, Model: f.m, Placements: f.w.Placements, Profiles: f.mem, Pacer: pid, Ledger: led, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	b.Warm()
	bids := 0
	for i, r := range f.w.Requests(400, 77) {
		if i%50 == 49 {
			pid.Update(clock())
		}
		now.Add(int64(7 * time.Second))
		req := request(f.w, r)
		resp, out := b.Bid(context.Background(), req, clock())
		fmt.Fprintf(got, "%s nbr=%d level=%s eligible=%d scored=%d paced=%d budget=%d\n", req.ID, out.NoBid, out.Level, out.Eligible, out.Scored, out.Paced, out.Budget)
		for _, w := range out.Winners {
			fmt.Fprintf(got, "  slot=%d ad=%d campaign=%d pctr=%.17g cpc=%.17g cost=%.17g value=%.17g\n", w.Slot, w.Ad, w.Campaign, w.PCTR, w.CPC, w.CostPerImpression, w.Value)
		}
		body, err := openrtb.AppendResponse(nil, &resp)
		if err != nil {
			t.Fatalf("request %s: encoding the response: %v", req.ID, err)
		}
		got.WriteString("  ")
		got.Write(body)
		if out.Bid {
			bids++
		}
	}
	if bids < 100 {
		t.Fatalf("%d of 400 requests bid: too few for the golden file to pin the auction", bids)
	}
}
