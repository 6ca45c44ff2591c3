package bidder

import (
	"context"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/platform/cputime"

	"github.com/casebook-ml/casebook/adsranking/internal/ctr"
	"github.com/casebook-ml/casebook/adsranking/internal/inventory"
	"github.com/casebook-ml/casebook/adsranking/internal/profiles"
	"github.com/casebook-ml/casebook/adsranking/openrtb"
	"github.com/casebook-ml/casebook/adsranking/sim"
	"github.com/casebook-ml/casebook/platform/features"
	"github.com/casebook-ml/casebook/platform/features/memory"
	"github.com/casebook-ml/casebook/platform/privacy/pii"
)

// BenchmarkBid is one request through the bidder on the default world (about 1,000
// eligible ads), no HTTP: the CPU cost per decision. Stage shares are reported as metrics.
func BenchmarkBid(b *testing.B) {
	ctx := context.Background()
	w, err := sim.New(sim.DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	ix, err := inventory.New(w.Campaigns, w.Ads, len(w.Placements))
	if err != nil {
		b.Fatal(err)
	}
	l, err := ctr.Generate(ctx, w, ix, w.Requests(60_000, 1), ctr.DefaultLogConfig())
	if err != nil {
		b.Fatal(err)
	}
	m, _, err := ctr.Train(ctx, l, l.SplitAt(sim.Day.Add(20*time.Hour)), 3, ctr.DefaultTrainConfig())
	if err != nil {
		b.Fatal(err)
	}
	reg := features.NewRegistry()
	if err := profiles.Register(reg); err != nil {
		b.Fatal(err)
	}
	mem := memory.New(reg)
	if err := profiles.Materialize(ctx, mem, w.Users, time.Now(), nil); err != nil {
		b.Fatal(err)
	}
	// The same profiles keyed by tokens, for the case where the bidder tokenizes user.id.
	tok, err := pii.NewEphemeral()
	if err != nil {
		b.Fatal(err)
	}
	memTok := memory.New(reg)
	if err := profiles.Materialize(ctx, memTok, w.Users, time.Now(), tok); err != nil {
		b.Fatal(err)
	}
	for _, k := range []struct {
		cands int
		cache bool
		pii   bool
	}{{1000, true, false}, {1000, true, true}, {1000, false, false}, {200, true, false}} {
		cfg := DefaultConfig()
		cfg.Candidates, cfg.AdCache = k.cands, k.cache
		// The full path every time: on a busy machine a request kept off the core for a
		// third of its budget would otherwise step down the ladder and measure less work.
		cfg.Ladder = Ladder{CachedFeatures: 1, FewerCandidates: 1, CheaperModel: 1, StopScoring: 1}
		d := Deps{Inventory: ix, Model: &Model{Version: "bench", Model: m}, Placements: w.Placements, Profiles: mem}
		if k.pii {
			d.Profiles, d.Tokenizer = memTok, tok
		}
		bd, err := New(cfg, d)
		if err != nil {
			b.Fatal(err)
		}
		bd.ads.wait()
		reqs := make([]*openrtb.BidRequest, 2000)
		for i, r := range w.Requests(len(reqs), 3) {
			reqs[i] = w.BidRequest(r)
		}
		name := "candidates=" + itoa(k.cands) + "/ad-cache=" + map[bool]string{true: "on", false: "off"}[k.cache]
		if k.pii {
			name += "/pii-tokens"
		}
		b.Run(name, func(b *testing.B) {
			var stages [numStages]time.Duration
			scored, unknown := 0, 0
			b.ReportAllocs()
			i := 0
			cpu0 := cputime.Process()
			for b.Loop() {
				_, out := bd.Bid(ctx, reqs[i%len(reqs)], time.Now())
				i++
				for s, d := range out.Stages {
					stages[s] += d
				}
				scored += out.Scored
				if !out.KnownUser {
					unknown++
				}
			}
			if unknown > b.N/2 {
				b.Fatalf("%d of %d requests: the user's profile was not found", unknown, b.N)
			}
			// CPU time is what a busy machine changes least: ns/op is wall time, which other
			// processes on the cores stretch.
			b.ReportMetric(float64((cputime.Process()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
			for s, d := range stages {
				b.ReportMetric(float64(d.Nanoseconds())/float64(b.N), StageNames[s]+"-ns/op")
			}
			b.ReportMetric(float64(scored)/float64(b.N), "scored/op")
		})
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	s := ""
	for ; n > 0; n /= 10 {
		s = string(rune('0'+n%10)) + s
	}
	return s
}
