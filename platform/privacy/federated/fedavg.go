// Package federated trains a logistic regression by federated averaging (McMahan et al.
// 2017) across clients that each keep their rows, with secure aggregation (Bonawitz et al.
// 2017, simplified) so the server sees only the sum of the clients' updates, never one.
package federated

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/casebook-ml/casebook/platform/ml"
)

// ErrInput reports data or a configuration federated training cannot run with.
var ErrInput = errors.New("federated: bad input")

// Config configures a federated run.
type Config struct {
	// Rounds of: broadcast the global model, train locally, aggregate.
	Rounds int
	// LocalEpochs of minibatch SGD each client runs per round, from the global weights.
	LocalEpochs int
	// BatchSize and LearningRate of the local SGD; L2 penalises the weights (not the bias).
	BatchSize    int
	LearningRate float64
	L2           float64
	// SecureAggregation masks every update; off, the server sees each client's weights.
	SecureAggregation bool
	// Drop makes client Drop[r] vanish in round r after the masks were agreed (it trains
	// and sends nothing): the dropped-client path of secure aggregation.
	Drop map[int]int
	// Seed drives the clients' minibatch order.
	Seed uint64
}

// DefaultConfig is 20 rounds of 2 local epochs with secure aggregation.
func DefaultConfig() Config {
	return Config{Rounds: 20, LocalEpochs: 2, BatchSize: 32, LearningRate: 0.1, L2: 1e-4, SecureAggregation: true, Seed: 1}
}

// Validate reports out-of-range settings.
func (c Config) Validate() error {
	switch {
	case c.Rounds < 1 || c.LocalEpochs < 1 || c.BatchSize < 1:
		return fmt.Errorf("%w: Rounds, LocalEpochs and BatchSize must be ≥ 1", ErrInput)
	case !(c.LearningRate > 0) || math.IsInf(c.LearningRate, 0):
		return fmt.Errorf("%w: LearningRate = %v, want > 0", ErrInput, c.LearningRate)
	case !(c.L2 >= 0):
		return fmt.Errorf("%w: L2 = %v, want ≥ 0", ErrInput, c.L2)
	}
	return nil
}

// Model is a logistic regression over raw features: p = σ(b + w·x).
type Model struct {
	Schema  ml.Schema
	Weights []float64
	Bias    float64
}

// Predict writes one probability per row of b.
func (m *Model) Predict(b ml.Batch, out []float64) error {
	k := m.Schema.Len()
	if b.Schema.Hash() != m.Schema.Hash() || len(b.X) != len(out)*k {
		return fmt.Errorf("%w: batch does not match the model's schema", ErrInput)
	}
	for i := range out {
		out[i] = sigmoid(m.Bias + dot(m.Weights, b.X[i*k:(i+1)*k]))
	}
	return nil
}

// Round is what one round did.
type Round struct {
	Round        int
	Participants int // clients whose update was aggregated
	Dropped      []int
	// BytesSent is the largest number of bytes one client sent the server this round
	// (masked update, plus its public key in round 1 and revealed seeds after a drop).
	BytesSent int
	// Model is the global model after the round.
	Model *Model
}

// Train runs federated averaging over the clients' datasets (same schema, disjoint rows)
// and returns every round's global model. The server weights each update by the client's
// row count; with secure aggregation the clients send n·w and n masked, so the server
// learns only Σ n·w and Σ n.
func Train(ctx context.Context, clients []ml.Dataset, cfg Config) ([]Round, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(clients) == 0 {
		return nil, fmt.Errorf("%w: no clients", ErrInput)
	}
	s := clients[0].Schema
	for i, d := range clients {
		if err := d.Validate(false); err != nil {
			return nil, fmt.Errorf("%w: client %d: %w", ErrInput, i, err)
		}
		if d.Schema.Hash() != s.Hash() {
			return nil, fmt.Errorf("%w: client %d has another schema", ErrInput, i)
		}
	}
	if cfg.SecureAggregation && len(clients) < 2 {
		return nil, fmt.Errorf("%w: secure aggregation needs ≥ 2 clients", ErrInput)
	}
	k := s.Len()
	// Keys are agreed once; each round's masks come from the seeds and the round number.
	parties := make([]*Party, len(clients))
	pubs := map[int][]byte{}
	if cfg.SecureAggregation {
		for i := range clients {
			p, err := NewParty(i)
			if err != nil {
				return nil, err
			}
			parties[i], pubs[i] = p, p.PublicKey()
		}
		for _, p := range parties {
			if err := p.Agree(pubs); err != nil {
				return nil, err
			}
		}
	}
	global := &Model{Schema: s, Weights: make([]float64, k)}
	rounds := make([]Round, 0, cfg.Rounds)
	for r := 1; r <= cfg.Rounds; r++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		dropped, hasDrop := cfg.Drop[r]
		updates := map[int][]float64{}
		for i, d := range clients {
			if hasDrop && i == dropped {
				continue
			}
			rng := rand.New(rand.NewPCG(cfg.Seed, uint64(r)<<32|uint64(i)))
			w, b := localSGD(d, global.Weights, global.Bias, cfg, rng)
			n := float64(d.Rows())
			u := make([]float64, k+2)
			for j := range w {
				u[j] = n * w[j]
			}
			u[k], u[k+1] = n*b, n
			updates[i] = u
		}
		if len(updates) == 0 {
			return nil, fmt.Errorf("%w: no client left in round %d", ErrInput, r)
		}
		round := Round{Round: r, Participants: len(updates), BytesSent: 8 * (k + 2)}
		var sum []float64
		if cfg.SecureAggregation {
			masked := map[int][]uint64{}
			for i, u := range updates {
				masked[i] = parties[i].Mask(r, Encode(u))
			}
			revealed := map[int]map[int]Seed{}
			var drops []int
			if hasDrop {
				drops = []int{dropped}
				round.Dropped = drops
				for i := range masked {
					seed, err := parties[i].Reveal(dropped)
					if err != nil {
						return nil, err
					}
					revealed[i] = map[int]Seed{dropped: seed}
				}
				round.BytesSent += len(Seed{})
			}
			if r == 1 {
				round.BytesSent += len(pubs[0])
			}
			raw, err := Unmask(r, masked, drops, revealed)
			if err != nil {
				return nil, err
			}
			sum = Decode(raw)
		} else {
			sum = make([]float64, k+2)
			for _, u := range updates {
				for j, v := range u {
					sum[j] += v
				}
			}
			if hasDrop {
				round.Dropped = []int{dropped}
			}
		}
		next := &Model{Schema: s, Weights: make([]float64, k)}
		for j := range next.Weights {
			next.Weights[j] = sum[j] / sum[k+1]
		}
		next.Bias = sum[k] / sum[k+1]
		global = next
		round.Model = global
		rounds = append(rounds, round)
	}
	return rounds, nil
}

// localSGD runs cfg.LocalEpochs of shuffled minibatch SGD on the mean log loss from (w0, b0).
func localSGD(d ml.Dataset, w0 []float64, b0 float64, cfg Config, rng *rand.Rand) ([]float64, float64) {
	k, n := d.Schema.Len(), d.Rows()
	w, b := append([]float64(nil), w0...), b0
	gw := make([]float64, k)
	for range cfg.LocalEpochs {
		perm := rng.Perm(n)
		for lo := 0; lo < n; lo += cfg.BatchSize {
			hi := min(lo+cfg.BatchSize, n)
			clear(gw)
			gb := 0.0
			for _, i := range perm[lo:hi] {
				x := d.X[i*k : (i+1)*k]
				r := sigmoid(b+dot(w, x)) - d.Y[i]
				for j, v := range x {
					gw[j] += r * v
				}
				gb += r
			}
			m := float64(hi - lo)
			for j := range w {
				w[j] -= cfg.LearningRate * (gw[j]/m + cfg.L2*w[j])
			}
			b -= cfg.LearningRate * gb / m
		}
	}
	return w, b
}

// Centralized trains the same model with the same SGD on all the rows in one place: the
// baseline federated averaging is compared with. Epochs = Rounds · LocalEpochs.
func Centralized(ctx context.Context, d ml.Dataset, cfg Config) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := d.Validate(false); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInput, err)
	}
	c := cfg
	c.LocalEpochs = cfg.Rounds * cfg.LocalEpochs
	rng := rand.New(rand.NewPCG(cfg.Seed, 0))
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	w, b := localSGD(d, make([]float64, d.Schema.Len()), 0, c, rng)
	return &Model{Schema: d.Schema, Weights: w, Bias: b}, nil
}

func dot(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

func sigmoid(z float64) float64 { return 1 / (1 + math.Exp(-z)) }
