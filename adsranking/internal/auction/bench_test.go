package auction

import (
	"math"
	"math/rand/v2"
	"testing"
)

// benchBids is a realistic request: lognormal bids around 0.50 per click, pCTRs around 2%,
// uniform user values.
func benchBids(n int, seed uint64) []Bid {
	rng := rand.New(rand.NewPCG(seed, 0))
	bids := make([]Bid, n)
	for i := range bids {
		bids[i] = Bid{
			Ad:       int64(i),
			Campaign: int64(i / 4),
			CPC:      0.5 * math.Exp(0.7*rng.NormFloat64()),
			PCTR:     1 / (1 + math.Exp(3.9-0.5*rng.NormFloat64())),
			Value:    rng.Float64(),
		}
	}
	return bids
}

// BenchmarkRun1000 clears one auction of 1,000 candidates for three slots; ns/op is the
// time per auction. With out reused it must report 0 allocs/op.
func BenchmarkRun1000(b *testing.B) {
	bids := benchBids(1000, 1)
	for _, m := range []Mechanism{GSP, VCG, FirstPrice} {
		b.Run(m.String(), func(b *testing.B) {
			cfg := DefaultConfig()
			cfg.Mechanism = m
			cfg.UserWeight = 0.005
			out := Run(cfg, bids, nil)
			b.ReportAllocs()
			for b.Loop() {
				out = Run(cfg, bids, out)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/auction")
			if len(out) != len(cfg.Slots) {
				b.Fatalf("Run(...) = %d winners, want %d", len(out), len(cfg.Slots))
			}
		})
	}
}

// BenchmarkRun1000TenSlots shows the cost of more slots: the selection keeps 11 and VCG's
// price sums over the slots below each winner.
func BenchmarkRun1000TenSlots(b *testing.B) {
	bids := benchBids(1000, 1)
	slots := make([]float64, 10)
	for j := range slots {
		slots[j] = math.Pow(0.8, float64(j))
	}
	for _, m := range []Mechanism{GSP, VCG} {
		b.Run(m.String(), func(b *testing.B) {
			cfg := Config{Mechanism: m, Slots: slots, ReserveCPM: 0.5, Increment: 0.01, UserWeight: 0.005}
			out := Run(cfg, bids, nil)
			b.ReportAllocs()
			for b.Loop() {
				out = Run(cfg, bids, out)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/auction")
		})
	}
}
