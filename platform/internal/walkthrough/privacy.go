package walkthrough

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"os"
	"slices"
	"time"

	"github.com/casebook-ml/casebook/platform/ml"
	"github.com/casebook-ml/casebook/platform/ml/mltest"
	"github.com/casebook-ml/casebook/platform/privacy/federated"
	"github.com/casebook-ml/casebook/platform/privacy/membership"
	"github.com/casebook-ml/casebook/platform/registry"
	"github.com/casebook-ml/casebook/platform/scenario"
)

// privacyScenarios are the privacy scenarios of walkthrough 1.9.
func privacyScenarios(cfg Config) scenario.Set {
	return scenario.Set{dpAggregates(), membershipInference(cfg), federatedAveraging(), forgetSubject()}
}

type candidate struct {
	name  string
	train func(context.Context, ml.Dataset) (ml.Model, error)
}

func gbdtWith(trees, depth int, lr, minChild, l2, subsample float64) func(context.Context, ml.Dataset) (ml.Model, error) {
	return func(ctx context.Context, d ml.Dataset) (ml.Model, error) {
		c := ml.DefaultGBDTConfig()
		c.Trees, c.MaxDepth, c.MaxLeaves, c.LearningRate = trees, depth, 1<<min(depth, 8), lr
		c.MinChildWeight, c.L2, c.Subsample = minChild, l2, subsample
		return ml.TrainGBDT(ctx, d, c)
	}
}

func logRegWith(l2 float64) func(context.Context, ml.Dataset) (ml.Model, error) {
	return func(ctx context.Context, d ml.Dataset) (ml.Model, error) {
		c := ml.DefaultLogRegConfig()
		c.L2 = l2
		return ml.TrainLogReg(ctx, d, c)
	}
}

// dpLogReg trains logistic regression by DP-SGD at ε (δ = min(1e-5, 1/N)), with the public
// bounds of the fraud-like features (each drawn uniformly from [−1, 1]). The seed is fixed
// so the scenario repeats; a real release seeds from crypto/rand.
func dpLogReg(epsilon float64) func(context.Context, ml.Dataset) (ml.Model, error) {
	return func(ctx context.Context, d ml.Dataset) (ml.Model, error) {
		c := ml.DefaultDPLogRegConfig()
		c.Epsilon, c.Seed = epsilon, 1
		c.Bounds = make([]ml.Bound, d.Schema.Len())
		for j := range c.Bounds {
			c.Bounds[j] = ml.Bound{Lo: -1, Hi: 1}
		}
		m, _, err := ml.TrainDPLogReg(ctx, d, c)
		return m, err
	}
}

func membershipInference(cfg Config) scenario.Scenario {
	return scenario.Scenario{
		Name:    "privacy/membership",
		Summary: "membership-inference attacks (loss threshold, shadow models) against overfit and regularized models: attack AUC next to test AUC, recorded on the version",
		Run: func(ctx context.Context, r *scenario.Report) error {
			const k = 20
			members := mltest.Fraudish(2_000, k, 31).Dataset
			nonMembers := mltest.Fraudish(2_000, k, 32).Dataset
			population := mltest.Fraudish(8_000, k, 33).Dataset
			test := mltest.Fraudish(20_000, k, 34).Dataset
			r.Step("the target trains on 2,000 fraud-like rows (%d features, ~10%% positives); 2,000 more from the same generator are the non-members", k)
			r.Say("loss-threshold attack: rank each row by the model's loss on it (members: lower); shadow-model attack: 2 shadow models of the same family on the attacker's own 8,000 rows, a logistic-regression attack model on (loss, confidence, label)")
			cands := []candidate{
				{"gbdt deep (depth 12, 200 trees, no regularization)", gbdtWith(200, 12, 0.3, 1e-3, 1e-3, 1)},
				{"gbdt shallow, regularized (depth 3, 100 trees, L2 10)", gbdtWith(100, 3, 0.1, 5, 10, 0.8)},
				{"logreg, weak L2 (1e-6)", logRegWith(1e-6)},
				{"logreg, strong L2 (1)", logRegWith(1)},
				{"logreg, DP-SGD (ε = 1, δ = 1e-5)", dpLogReg(1)},
			}
			type row struct {
				test       float64
				loss, shad membership.Result
			}
			rows := make([]row, len(cands))
			r.Say("%-55s %9s %26s %26s", "model", "test AUC", "loss attack AUC [95%]", "shadow attack AUC [95%]")
			for i, c := range cands {
				m, err := c.train(ctx, members)
				if err != nil {
					return fmt.Errorf("%s: %w", c.name, err)
				}
				mt, err := ml.Evaluate(m, test)
				if err != nil {
					return err
				}
				sc := membership.ShadowConfig{Shadows: 2, Train: c.train, Seed: 1}
				_, rs, err := membership.Measure(ctx, m, members, nonMembers, population, &sc)
				if err != nil {
					return fmt.Errorf("%s: %w", c.name, err)
				}
				rows[i] = row{mt[ml.MetricAUC], rs[0], rs[1]}
				r.Say("%-55s %9.3f %10.3f [%.3f, %.3f] %10.3f [%.3f, %.3f]", c.name, rows[i].test,
					rs[0].AUC, rs[0].Lo, rs[0].Hi, rs[1].AUC, rs[1].Lo, rs[1].Hi)
			}
			deep, shallow, strong, private := rows[0], rows[1], rows[3], rows[4]
			r.Measure("loss attack AUC, deep gbdt", deep.loss.AUC, "")
			r.Measure("loss attack AUC, regularized gbdt", shallow.loss.AUC, "")
			r.Measure("loss attack AUC, logreg strong L2", strong.loss.AUC, "")
			r.Check(fmt.Sprintf("the deep GBDT leaks membership: loss attack AUC %.3f, interval above 0.5", deep.loss.AUC), deep.loss.Lo > 0.5)
			r.Check(fmt.Sprintf("the shadow attack also finds it: AUC %.3f, interval above 0.5", deep.shad.AUC), deep.shad.Lo > 0.5)
			r.Check(fmt.Sprintf("regularizing the GBDT cuts the leak (loss attack AUC %.3f → %.3f) while test AUC goes %.3f → %.3f",
				deep.loss.AUC, shallow.loss.AUC, deep.test, shallow.test), shallow.loss.AUC < deep.loss.AUC)
			r.Check(fmt.Sprintf("logistic regression with strong L2 is indistinguishable from a coin flip (loss attack %v)", strong.loss), strong.loss.Contains(0.5))
			r.Measure("loss attack AUC, logreg DP-SGD ε=1", private.loss.AUC, "")
			r.Check(fmt.Sprintf("DP-SGD at ε = 1 is indistinguishable from a coin flip too (loss attack %v), at test AUC %.3f against %.3f without DP", private.loss, private.test, strong.test), private.loss.Contains(0.5))

			r.Step("record it on the version: a pipeline with membership.Evaluator runs the attacks in its evaluate step (training rows vs. holdout rows)")
			reg, _, cleanup, err := openRegistry(ctx, cfg, r)
			if err != nil {
				return err
			}
			defer cleanup()
			ckpt, err := os.MkdirTemp("", "casebook-privacy-pipeline-*")
			if err != nil {
				return err
			}
			defer os.RemoveAll(ckpt)
			all := mltest.Fraudish(4_000, k, 35).Dataset
			gates := registry.DefaultGates()
			gates.LatencyBudget = time.Second // not under test here
			def := fraudDefinition("fraud-membership", all, cands[0].train, "", gates)
			def.HoldoutFraction = 0.5
			def.CodeVersion = "walkthrough 1.9"
			def.Privacy = membership.Evaluator(&membership.ShadowConfig{Shadows: 1, Train: cands[0].train, Seed: 1})
			res, err := runPipeline(ctx, reg, def, ckpt, nil)
			if err != nil {
				return err
			}
			v, err := reg.Resolve(ctx, "fraud", fmt.Sprint(res.Version))
			if err != nil {
				return err
			}
			if v.Privacy == nil {
				r.Check("the registered version carries membership-inference AUCs", false)
				return nil
			}
			mi := v.Privacy.MembershipInference
			r.Say("v%d privacy record: loss-threshold %.3f, shadow-model %.3f (what the card's privacy section shows)", v.Number, mi[membership.LossThreshold], mi[membership.ShadowModel])
			_, hasLoss := mi[membership.LossThreshold]
			_, hasShadow := mi[membership.ShadowModel]
			r.Check("the registered version carries both attacks' AUCs", hasLoss && hasShadow)
			return nil
		},
	}
}

// banks cuts d into n disjoint partitions by f00, a stand-in for a customer segment: each
// bank's customers look different (non-IID), as real banks' do.
func banks(d ml.Dataset, n int) []ml.Dataset {
	idx := make([]int, d.Rows())
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return cmp.Compare(d.Row(a)[0], d.Row(b)[0]) })
	out := make([]ml.Dataset, n)
	for b := range out {
		out[b] = d.Subset(idx[b*len(idx)/n : (b+1)*len(idx)/n])
	}
	return out
}

func fedAUC(m *federated.Model, d ml.Dataset) (float64, error) {
	p := make([]float64, d.Rows())
	if err := m.Predict(d.Batch(), p); err != nil {
		return 0, err
	}
	return ml.AUC(d.Y, p), nil
}

func maxWeightDiff(a, b *federated.Model) float64 {
	d := math.Abs(a.Bias - b.Bias)
	for j := range a.Weights {
		d = math.Max(d, math.Abs(a.Weights[j]-b.Weights[j]))
	}
	return d
}

func federatedAveraging() scenario.Scenario {
	return scenario.Scenario{
		Name:    "privacy/federated",
		Summary: "federated averaging over 5 banks with secure aggregation (the server sees only the sum) vs centralized training on the same rows; one bank drops mid-round",
		Run: func(ctx context.Context, r *scenario.Report) error {
			const k, nBanks = 12, 5
			all := mltest.Fraudish(20_000, k, 41).Dataset
			test := mltest.Fraudish(20_000, k, 42).Dataset
			parts := banks(all, nBanks)
			r.Step("%d banks hold disjoint customers of 20,000 fraud-like rows, split by customer segment (f00 quintile): each bank's data looks different", nBanks)
			for i, p := range parts {
				pos := 0.0
				for _, y := range p.Y {
					pos += y
				}
				r.Say("bank %d: %d rows, %.1f%% positives", i, p.Rows(), 100*pos/float64(p.Rows()))
			}
			cfg := federated.DefaultConfig()
			cfg.Rounds, cfg.LocalEpochs, cfg.LearningRate, cfg.BatchSize = 15, 1, 0.01, 64
			r.Step("FedAvg with secure aggregation: %d rounds of %d local SGD epoch(s) from the global weights; each bank sends n·w and n, masked (X25519 pairwise seeds, ChaCha8 masks, sums mod 2^64)", cfg.Rounds, cfg.LocalEpochs)
			start := time.Now()
			secure, err := federated.Train(ctx, parts, cfg)
			if err != nil {
				return err
			}
			elapsed := time.Since(start)
			central, err := federated.Centralized(ctx, all, cfg)
			if err != nil {
				return err
			}
			lbfgs, err := ml.TrainLogReg(ctx, all, ml.DefaultLogRegConfig())
			if err != nil {
				return err
			}
			lm, err := ml.Evaluate(lbfgs, test)
			if err != nil {
				return err
			}
			centralAUC, err := fedAUC(central, test)
			if err != nil {
				return err
			}
			alone, err := federated.Centralized(ctx, parts[0], cfg)
			if err != nil {
				return err
			}
			aloneAUC, err := fedAUC(alone, test)
			if err != nil {
				return err
			}
			r.Say("%5s %12s %14s", "round", "test AUC", "bytes/bank")
			var final float64
			for _, rd := range secure {
				a, err := fedAUC(rd.Model, test)
				if err != nil {
					return err
				}
				final = a
				if rd.Round <= 5 || rd.Round%5 == 0 {
					r.Say("%5d %12.4f %14d", rd.Round, a, rd.BytesSent)
				}
			}
			total := 0
			for _, rd := range secure {
				total += rd.BytesSent
			}
			r.Say("centralized, same SGD on the pooled rows (%d epochs): test AUC %.4f", cfg.Rounds*cfg.LocalEpochs, centralAUC)
			r.Say("bank 0 alone, same SGD on its own %d rows: test AUC %.4f", parts[0].Rows(), aloneAUC)
			r.Say("centralized, logistic regression by L-BFGS (ml.TrainLogReg): test AUC %.4f", lm[ml.MetricAUC])
			r.Measure("fedavg test AUC", final, "")
			r.Measure("centralized test AUC", centralAUC, "")
			r.Measure("bytes sent per bank, all rounds", float64(total), "B")
			r.Measure("fedavg training time", elapsed.Seconds(), "s")
			r.Check(fmt.Sprintf("FedAvg over non-IID banks gets within 0.01 of centralized training (%.4f vs %.4f)", final, centralAUC), final > centralAUC-0.01)

			r.Check(fmt.Sprintf("and beats what bank 0 learns from its own customers (%.4f vs %.4f)", final, aloneAUC), final > aloneAUC)

			r.Step("the same run with aggregation in the clear: secure aggregation changes what the server sees, not the model")
			plainCfg := cfg
			plainCfg.SecureAggregation = false
			plain, err := federated.Train(ctx, parts, plainCfg)
			if err != nil {
				return err
			}
			diff := maxWeightDiff(secure[len(secure)-1].Model, plain[len(plain)-1].Model)
			r.Say("largest weight difference, secure vs clear, after %d rounds: %.2g (fixed point at scale 2^20)", cfg.Rounds, diff)
			r.Check("the masked sums give the same model as the clear ones (weights within 1e-4)", diff < 1e-4)

			r.Step("bank 3 drops in round 5 after the masks were agreed: the other banks reveal their pairwise seeds with bank 3, the server removes its masks")
			dropCfg := cfg
			dropCfg.Drop = map[int]int{5: 3}
			dropped, err := federated.Train(ctx, parts, dropCfg)
			if err != nil {
				return err
			}
			plainCfg.Drop = dropCfg.Drop
			droppedPlain, err := federated.Train(ctx, parts, plainCfg)
			if err != nil {
				return err
			}
			rd := dropped[4]
			dAUC, err := fedAUC(dropped[len(dropped)-1].Model, test)
			if err != nil {
				return err
			}
			d5 := maxWeightDiff(rd.Model, droppedPlain[4].Model)
			r.Say("round 5: %d banks aggregated, dropped %v, each survivor sent %d bytes (32 more: one revealed seed); final test AUC %.4f", rd.Participants, rd.Dropped, rd.BytesSent, dAUC)
			r.Check(fmt.Sprintf("round 5's model is the survivors' exact average (largest difference from the clear average %.2g)", d5), rd.Participants == nBanks-1 && d5 < 1e-4)
			r.Check(fmt.Sprintf("the run recovers: final test AUC %.4f within 0.01 of the run without a drop", dAUC), math.Abs(dAUC-final) < 0.01)
			return nil
		},
	}
}
