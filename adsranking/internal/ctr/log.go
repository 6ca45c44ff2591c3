package ctr

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/casebook-ml/casebook/adsranking/internal/inventory"
	"github.com/casebook-ml/casebook/adsranking/sim"
)

// LogConfig is the logging policy that produced the training data: a system before this
// model ranked a short list of eligible ads by bid × a noisy prior click rate, and on a
// small random share of requests shuffled the winners' slots, which is what lets the
// position effect be measured without a model.
type LogConfig struct {
	Shortlist int     // eligible ads drawn at random per request, before ranking
	NoiseSD   float64 // log-normal noise on the old system's click estimate
	Explore   float64 // share of requests whose winners' slots are shuffled
	Seed      uint64
}

// DefaultLogConfig is a short list of 30, noise 0.5, 20% shuffled.
func DefaultLogConfig() LogConfig {
	return LogConfig{Shortlist: 30, NoiseSD: 0.5, Explore: 0.2, Seed: 1}
}

// Log is a click log: one row per impression, with the generator's click probability
// kept beside the coin flip so the best achievable log loss is known.
type Log struct {
	X        []float64 // rows × len(Schema) field values
	Clicked  []float64 // 0 or 1
	Slot     []int8
	Shuffled []bool // the impression's request had its slots shuffled
	TrueP    []float64
	Request  []int32 // index of the request in the stream, for pairing slots
	Time     []int64 // unix nanoseconds of the request
	Ad       []int64
}

// Rows is the number of impressions.
func (l *Log) Rows() int { return len(l.Clicked) }

// Generate serves requests with the logging policy and draws each impression's click from
// the truth.
func Generate(ctx context.Context, w *sim.World, ix *inventory.Index, reqs []sim.Request, cfg LogConfig) (*Log, error) {
	if cfg.Shortlist < 1 || !(cfg.Explore >= 0 && cfg.Explore <= 1) || !(cfg.NoiseSD >= 0) {
		return nil, fmt.Errorf("ctr: log config %+v: want Shortlist ≥ 1, Explore in [0, 1], NoiseSD ≥ 0", cfg)
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 21))
	snap := ix.Snapshot()
	truth := w.Truth()
	pos := truth.Position()
	l := &Log{}
	var (
		sc    inventory.Scratch
		cands []int32
		row   []float64
	)
	type pick struct {
		ad    int32
		score float64
	}
	short := make([]pick, 0, cfg.Shortlist)
	for ri, r := range reqs {
		if ri%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("ctr: generate log: %w", err)
			}
		}
		u := w.User(r.User)
		pl := &w.Placements[r.Placement]
		q := inventory.Query{Geo: u.Geo, Device: u.Device, Placement: r.Placement, Hour: r.Hour, Segments: u.Segments[:], Formats: pl.Formats}
		cands, _ = snap.Candidates(q, 0, &sc, cands[:0])
		if len(cands) == 0 {
			continue
		}
		short = short[:0]
		for range min(cfg.Shortlist, len(cands)) {
			i := rng.IntN(len(cands))
			a := snap.Ad(cands[i])
			short = append(short, pick{ad: cands[i], score: a.CPC * 0.02 * math.Exp(rng.NormFloat64()*cfg.NoiseSD)})
			cands[i] = cands[len(cands)-1]
			cands = cands[:len(cands)-1]
		}
		slices.SortFunc(short, func(a, b pick) int {
			if a.score > b.score {
				return -1
			}
			if a.score < b.score {
				return 1
			}
			return int(a.ad - b.ad)
		})
		slots := min(pl.Slots, len(short))
		winners := short[:slots]
		shuffled := rng.Float64() < cfg.Explore
		if shuffled {
			rng.Shuffle(len(winners), func(i, j int) { winners[i], winners[j] = winners[j], winners[i] })
		}
		tc := truth.NewContext(u, r.Placement, r.Hour)
		prof := ProfileOf(u)
		for s, wn := range winners {
			a := snap.Ad(wn.ad)
			p := pos[s] * truth.CTR(tc, a.ID)
			click := 0.0
			if rng.Float64() < p {
				click = 1
			}
			row = ContextRow(prof, r.Placement, r.Hour, pl.Category, row[:0])
			row = AdRow(a, row)
			l.X = append(l.X, row...)
			l.Clicked = append(l.Clicked, click)
			l.Slot = append(l.Slot, int8(s))
			l.Shuffled = append(l.Shuffled, shuffled)
			l.TrueP = append(l.TrueP, p)
			l.Request = append(l.Request, int32(ri))
			l.Time = append(l.Time, r.Time.UnixNano())
			l.Ad = append(l.Ad, a.ID)
		}
	}
	if l.Rows() == 0 {
		return nil, fmt.Errorf("ctr: generate log: %d requests produced no impression", len(reqs))
	}
	return l, nil
}

// SplitAt returns the row index of the first impression at or after t (the log is in
// time order): rows before it train, rows from it on are held out.
func (l *Log) SplitAt(t time.Time) int {
	i, _ := slices.BinarySearch(l.Time, t.UnixNano())
	return i
}
