package federated_test

import (
	"context"
	"errors"
	"math"
	"testing"

	"github.com/casebook-ml/casebook/platform/ml"
	"github.com/casebook-ml/casebook/platform/ml/mltest"
	"github.com/casebook-ml/casebook/platform/privacy/federated"
)

func auc(t *testing.T, m *federated.Model, d ml.Dataset) float64 {
	t.Helper()
	p := make([]float64, d.Rows())
	if err := m.Predict(d.Batch(), p); err != nil {
		t.Fatal(err)
	}
	return ml.AUC(d.Y, p)
}

func split(d ml.Dataset, parts int) []ml.Dataset {
	out := make([]ml.Dataset, parts)
	n := d.Rows()
	for c := range parts {
		var rows []int
		for i := c * n / parts; i < (c+1)*n/parts; i++ {
			rows = append(rows, i)
		}
		out[c] = d.Subset(rows)
	}
	return out
}

func TestFedAvgMatchesCentralized(t *testing.T) {
	ctx := context.Background()
	w := []float64{1.5, -1, 0.5, 0, 2}
	train, test := mltest.Logistic(3000, w, -1, 1).Dataset, mltest.Logistic(2000, w, -1, 2).Dataset
	cfg := federated.DefaultConfig()
	cfg.Rounds = 10
	secure, err := federated.Train(ctx, split(train, 4), cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.SecureAggregation = false
	plain, err := federated.Train(ctx, split(train, 4), cfg)
	if err != nil {
		t.Fatal(err)
	}
	central, err := federated.Centralized(ctx, train, cfg)
	if err != nil {
		t.Fatal(err)
	}
	s, p := secure[len(secure)-1].Model, plain[len(plain)-1].Model
	for j := range s.Weights {
		if math.Abs(s.Weights[j]-p.Weights[j]) > 1e-4 {
			t.Errorf("weight %d: secure %v, plain %v: secure aggregation changed the average", j, s.Weights[j], p.Weights[j])
		}
	}
	as, ac := auc(t, s, test), auc(t, central, test)
	if as < ac-0.01 {
		t.Errorf("FedAvg test AUC %.4f, centralized %.4f: want within 0.01", as, ac)
	}
}

func TestFedAvgDroppedClient(t *testing.T) {
	ctx := context.Background()
	train := mltest.Logistic(2000, []float64{1, -1, 0.5}, 0, 3).Dataset
	cfg := federated.DefaultConfig()
	cfg.Rounds, cfg.Drop = 4, map[int]int{2: 1}
	rounds, err := federated.Train(ctx, split(train, 3), cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := rounds[1]
	if r.Participants != 2 || len(r.Dropped) != 1 || r.Dropped[0] != 1 {
		t.Errorf("round 2 = %d participants, dropped %v; want 2 and [1]", r.Participants, r.Dropped)
	}
	// The round's average equals the plain average of the survivors.
	cfg.SecureAggregation = false
	plain, err := federated.Train(ctx, split(train, 3), cfg)
	if err != nil {
		t.Fatal(err)
	}
	for j, w := range r.Model.Weights {
		if math.Abs(w-plain[1].Model.Weights[j]) > 1e-4 {
			t.Errorf("round 2 weight %d = %v, want the survivors' plain average %v", j, w, plain[1].Model.Weights[j])
		}
	}
}

func TestFedAvgBadInput(t *testing.T) {
	ctx := context.Background()
	a := mltest.Logistic(100, []float64{1, 2}, 0, 1).Dataset
	b := mltest.Logistic(100, []float64{1, 2, 3}, 0, 1).Dataset
	cfg := federated.DefaultConfig()
	if _, err := federated.Train(ctx, []ml.Dataset{a, b}, cfg); !errors.Is(err, federated.ErrInput) {
		t.Errorf("Train(schemas differ) error = %v, want ErrInput", err)
	}
	if _, err := federated.Train(ctx, []ml.Dataset{a}, cfg); !errors.Is(err, federated.ErrInput) {
		t.Errorf("Train(one client, secure) error = %v, want ErrInput", err)
	}
	cfg.Rounds = 0
	if _, err := federated.Train(ctx, []ml.Dataset{a, a}, cfg); !errors.Is(err, federated.ErrInput) {
		t.Errorf("Train(0 rounds) error = %v, want ErrInput", err)
	}
}
