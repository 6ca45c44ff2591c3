package scenarios

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"time"

	"github.com/casebook-ml/casebook/fraud/internal/casestudy"
	"github.com/casebook-ml/casebook/fraud/internal/eval"
	"github.com/casebook-ml/casebook/fraud/internal/txfeatures"
	"github.com/casebook-ml/casebook/fraud/sim"
	"github.com/casebook-ml/casebook/platform/ml"
	"github.com/casebook-ml/casebook/platform/registry"
	regfs "github.com/casebook-ml/casebook/platform/registry/fs"
	"github.com/casebook-ml/casebook/platform/scenario"
)

// dpEpsilons are the privacy levels the fraud/dp scenario trains at.
var dpEpsilons = []float64{0.05, 0.1, 0.5, 1, 2, 4, 8}

// dpSeeds: each ε is trained with these seeds and the test metrics averaged, so that one
// lucky draw of the noise does not decide the table. Fixed so the demo is reproducible; a
// real release seeds from crypto/rand (Seed 0).
var dpSeeds = []uint64{1, 2, 3, 4, 5}

func dpTraining() scenario.Scenario {
	return scenario.Scenario{
		Name:    "fraud/dp",
		Summary: "DP-SGD logistic regression on the handbook protocol's training week at ε = 0.05…8 (δ = 1e-5, RDP accountant): test AUC and average precision beside non-private logistic regression, and the guarantee stored in the registry.",
		Run:     runDPTraining,
	}
}

func runDPTraining(ctx context.Context, r *scenario.Report) error {
	cfg := sim.DefaultConfig()
	cfg.Customers, cfg.Terminals, cfg.Days = 1000, 2000, 150
	r.Step("Simulate and featurize as fraud/protocol does (1,000 cards, 2,000 terminals, 150 days)")
	d, err := sim.Generate(ctx, cfg)
	if err != nil {
		return err
	}
	x, err := casestudy.Featurize(d.Transactions)
	if err != nil {
		return err
	}
	tab := eval.NewTable(d.Transactions, x, txfeatures.Names)
	s, err := eval.ResolveSplit(tab, eval.DefaultConfig().Split)
	if err != nil {
		return err
	}
	train := tab.Dataset(tab.Rows(s.TrainStart, s.TrainDays))
	days := tab.TestDays(s)
	var rows []int
	for _, dd := range days {
		rows = append(rows, dd...)
	}
	test := tab.Dataset(rows)
	frauds := 0
	for _, y := range train.Y {
		frauds += int(y)
	}
	r.Say("train days %d–%d: %d transactions, %d fraudulent; test days %d–%d: %d transactions (known-compromised cards removed)",
		s.TrainStart, s.TrainStart+s.TrainDays-1, train.Rows(), frauds, s.TestStart(), s.TestStart()+s.TestDays-1, test.Rows())

	bounds, err := casestudy.PublicBounds(txfeatures.Names)
	if err != nil {
		return err
	}
	clampedRows := 0
	for i := range train.Rows() {
		for j, v := range train.Row(i) {
			if v < bounds[j].Lo || v > bounds[j].Hi {
				clampedRows++
				break
			}
		}
	}
	r.Say("features are clamped into fixed public ranges (amounts ≤ 500, averages ≤ 300, counts ≤ 10 a day, rates and flags in [0, 1]) and scaled to [−1, 1] with them, not with the training data's mean and deviation, which would leak; %d of %d training rows had a value clamped",
		clampedRows, train.Rows())
	r.Measure("training rows with a clamped value", float64(clampedRows)/float64(train.Rows()), "")

	score := func(m ml.Model) (auc, ap float64, err error) {
		p := make([]float64, test.Rows())
		if err := m.Predict(test.Batch(), p); err != nil {
			return 0, 0, err
		}
		sc := make(map[int]float64, len(rows))
		for i, row := range rows {
			sc[row] = p[i]
		}
		res := eval.Score(tab, days, sc, 100)
		return res.AUC, res.AP, nil
	}

	r.Step("Non-private baselines: L-BFGS logistic regression on standardized features, and the same SGD with clipping but no noise")
	base, err := ml.TrainLogReg(ctx, train, ml.DefaultLogRegConfig())
	if err != nil {
		return err
	}
	baseAUC, baseAP, err := score(base)
	if err != nil {
		return err
	}
	r.Say("logreg (L-BFGS, not private):      test AUC %.3f, AP %.3f", baseAUC, baseAP)
	r.Measure("non-private logreg test AUC", baseAUC, "")
	r.Measure("non-private logreg test AP", baseAP, "")

	dcfg := ml.DefaultDPLogRegConfig()
	dcfg.Bounds, dcfg.Delta = bounds, 1e-5
	// Features scaled by wide public bounds sit in a narrow band of [−1, 1]: plain SGD needs
	// a large step and many passes to approach L-BFGS. Larger batches also shrink the noise
	// on the mean gradient (σC/B) faster than the accountant raises σ.
	dcfg.Epochs, dcfg.BatchSize, dcfg.LearningRate = 30, 1024, 8
	run := func(eps float64) (auc, ap, spread float64, rep ml.DPReport, m *ml.LogReg, err error) {
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, seed := range dpSeeds {
			c := dcfg
			c.Epsilon, c.Seed = eps, seed
			mm, rr, err := ml.TrainDPLogReg(ctx, train, c)
			if err != nil {
				return 0, 0, 0, rep, nil, err
			}
			a, p, err := score(mm)
			if err != nil {
				return 0, 0, 0, rep, nil, err
			}
			lo, hi = math.Min(lo, a), math.Max(hi, a)
			auc += a / float64(len(dpSeeds))
			ap += p / float64(len(dpSeeds))
			rep, m = rr, mm
		}
		return auc, ap, hi - lo, rep, m, nil
	}
	start := time.Now()
	clipAUC, clipAP, _, crep, _, err := run(math.Inf(1))
	if err != nil {
		return err
	}
	r.Say("SGD, clipped, no noise (ε = ∞):     test AUC %.3f, AP %.3f (%d steps at q = %.4f, %.0f%% of per-example gradients clipped at C = %g)",
		clipAUC, clipAP, crep.Steps, crep.SampleRate, 100*crep.ClippedShare, crep.Clip)
	r.Measure("clipped SGD (ε=∞) test AUC", clipAUC, "")

	r.Step("DP-SGD at each ε (δ = 1e-5); test metrics averaged over 5 noise seeds")
	r.Say("%d epochs of expected batches of %d, clipping norm %g, learning rate %g", dcfg.Epochs, dcfg.BatchSize, dcfg.Clip, dcfg.LearningRate)
	within := true
	aucs := map[float64]float64{}
	var dpModel *ml.LogReg
	var dpRep ml.DPReport
	for _, eps := range dpEpsilons {
		auc, ap, spread, rep, m, err := run(eps)
		if err != nil {
			return err
		}
		aucs[eps] = auc
		within = within && rep.Epsilon <= eps && rep.Accountant == "rdp"
		r.Say("ε = %-4g σ = %6.2f → spent ε = %.3f at α = %-3d test AUC %.3f (%+.3f; seeds span %.3f), AP %.3f (%+.3f)",
			eps, rep.NoiseMultiplier, rep.Epsilon, rep.Order, auc, auc-baseAUC, spread, ap, ap-baseAP)
		r.Measure(fmt.Sprintf("DP-SGD ε=%g test AUC", eps), auc, "")
		r.Measure(fmt.Sprintf("DP-SGD ε=%g test AP", eps), ap, "")
		if eps == 1 {
			dpModel, dpRep = m, rep
		}
	}
	r.Measure("DP training seconds (all runs)", time.Since(start).Seconds(), "s")
	r.Check("every run spent no more than its target ε, by the RDP accountant", within)
	cheap := true
	for _, eps := range dpEpsilons {
		if eps >= 1 {
			cheap = cheap && aucs[eps] >= clipAUC-0.02
		}
	}
	r.Check("from ε = 1 up, the noise costs at most 0.02 test AUC against the same SGD without noise", cheap)
	r.Check("at ε = 0.05 the noise costs AUC: at least 0.02 below ε = 8", aucs[0.05] <= aucs[8]-0.02)

	r.Step("Register the ε = 1 model with its guarantee in Version.Privacy.DP")
	dir, err := os.MkdirTemp("", "fraud-dp-registry-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	fcfg := regfs.DefaultConfig()
	fcfg.Dir = dir
	store, err := regfs.Open(fcfg)
	if err != nil {
		return err
	}
	reg, err := registry.New(store, registry.DefaultConfig())
	if err != nil {
		return err
	}
	art, err := dpModel.MarshalBinary()
	if err != nil {
		return err
	}
	if _, _, err := reg.Register(ctx, registry.RegisterRequest{Data: art, Version: registry.Version{
		Model: "fraud-dp", Family: string(dpModel.Family()), Schema: dpModel.Schema(),
		DataFingerprint: train.Fingerprint(), CodeVersion: "fraud scenario fraud/dp", RegisteredBy: "fraud/dp",
		Description: "DP-SGD logistic regression, ε = 1, on the handbook protocol's training week.",
		Privacy: &registry.Privacy{DP: &registry.DPGuarantee{
			Mechanism: dpRep.Mechanism, Epsilon: dpRep.Epsilon, Delta: dpRep.Delta, Accountant: dpRep.Accountant}},
	}}); err != nil {
		return err
	}
	vs, err := reg.Versions(ctx, "fraud-dp")
	if err != nil {
		return err
	}
	stored, _ := json.Marshal(vs[len(vs)-1].Privacy)
	r.Say("registry fraud-dp v%d privacy: %s", vs[len(vs)-1].Number, stored)
	got := vs[len(vs)-1].Privacy
	r.Check("the registry returns the guarantee the trainer reported", got != nil && got.DP != nil && got.DP.Epsilon == dpRep.Epsilon && got.DP.Mechanism == "dp-sgd")
	return nil
}
