package walkthrough

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/casebook-ml/casebook/platform/ml"
	"github.com/casebook-ml/casebook/platform/registry"
	"github.com/casebook-ml/casebook/platform/scenario"
	"github.com/casebook-ml/casebook/platform/serving"
	"github.com/casebook-ml/casebook/platform/serving/servingtest"
)

func servingRollouts(cfg Config) scenario.Scenario {
	return scenario.Scenario{
		Name:    "serving/rollouts",
		Summary: "Rollouts driven by registry aliases: a shadow version is compared off the caller's path, a 10% canary splits users deterministically, then blue/green promotion and rollback under load fail no request.",
		Run: func(ctx context.Context, r *scenario.Report) error {
			env, err := newServingEnv(r, 15)
			if err != nil {
				return err
			}
			defer env.done()
			train := servingtest.Data(40000, 15, 7)
			lr, err := servingtest.LogReg(ctx, train.Dataset)
			if err != nil {
				return err
			}
			gb, err := servingtest.GBDT(ctx, train.Dataset, 100, 5)
			if err != nil {
				return err
			}
			for _, m := range []ml.Model{lr, gb} {
				if _, err := servingtest.Register(ctx, env.reg, "fraud", m, ""); err != nil {
					return err
				}
			}
			_ = servingtest.Move(ctx, env.reg, "fraud", registry.Champion, 1)
			sc := serving.DefaultConfig()
			sc.Logger = cfg.Logger
			mc := serving.DefaultModelConfig("fraud")
			mc.CanaryAlias, mc.CanaryPercent, mc.ShadowAlias = registry.Challenger, 10, registry.Shadow
			sc.Models = []serving.ModelConfig{mc}
			srv, err := serving.New(ctx, env.reg, sc)
			if err != nil {
				return err
			}
			defer srv.Close()
			waitStatus := func(ok func(serving.ModelStatus) bool) bool {
				for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
					if st, _ := srv.Status("fraud"); ok(st) {
						return true
					}
				}
				return false
			}

			r.Step("Shadow: v2 (boosted trees) gets a copy of every request; v1 (logistic regression) answers")
			_ = servingtest.Move(ctx, env.reg, "fraud", registry.Shadow, 2)
			waitStatus(func(s serving.ModelStatus) bool { return s.Shadow == 2 })
			sh := drive(ctx, srv, env, "fraud", 2, 500*time.Millisecond, 200*time.Microsecond)
			time.Sleep(100 * time.Millisecond)
			rep, _ := srv.Shadow("fraud")
			r.Say("%d answers, all from %v; shadow compared %d rows, dropped %d", sh.requests, sh.paths, rep.Compared, rep.Dropped)
			r.Say("agreement at 0.5: %.1f%%; mean |Δscore| %.4f, max %.3f; |Δ| ≤ %v: %v", 100*rep.Agreement, rep.MeanAbsDiff, rep.MaxAbsDiff, rep.BucketBounds, rep.Buckets)
			r.Measure("shadow agreement", rep.Agreement, "")
			r.Measure("shadow mean abs diff", rep.MeanAbsDiff, "")
			r.Check("the shadow's answers were compared and none reached a caller", rep.Compared > 0 && sh.paths[serving.PathPrimary] == sh.requests)

			r.Step("Canary: challenger → v2 for 10%% of users, split by a hash of the user key")
			_ = servingtest.Move(ctx, env.reg, "fraud", registry.Challenger, 2)
			waitStatus(func(s serving.ModelStatus) bool { return s.Canary == 2 })
			sticky, canary := true, 0
			const users = 1000
			for u := range users {
				key := fmt.Sprintf("user-%d", u)
				var first int
				for try := range 3 {
					res, err := srv.Infer(ctx, serving.Request{Model: "fraud", Decoded: serving.Decoded{Rows: 1, X: env.row(u, 1), Key: key}})
					if err != nil {
						return err
					}
					if try == 0 {
						first = res.Version
					} else if res.Version != first {
						sticky = false
					}
				}
				if first == 2 {
					canary++
				}
			}
			r.Measure("canary share of users", float64(canary)/users, "")
			r.Check("every user saw the same version on every request", sticky)
			r.Check("the canary share is about 10% (7–13%)", canary >= 70 && canary <= 130)

			r.Step("Blue/green: move champion v1 → v2 under load, then roll back")
			stop := make(chan struct{})
			var ok, failed atomic.Int64
			var mu sync.Mutex
			seen := map[int]int{}
			var wg sync.WaitGroup
			for g := range 6 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := g; ; i += 6 {
						select {
						case <-stop:
							return
						default:
						}
						res, err := srv.Infer(ctx, serving.Request{Model: "fraud", Decoded: serving.Decoded{Rows: 4, X: env.row(i, 4)}})
						if err != nil || res.Path != serving.PathPrimary {
							failed.Add(1)
							continue
						}
						ok.Add(1)
						mu.Lock()
						seen[res.Version]++
						mu.Unlock()
					}
				}()
			}
			time.Sleep(200 * time.Millisecond)
			_ = servingtest.Move(ctx, env.reg, "fraud", registry.Champion, 2)
			moved := waitStatus(func(s serving.ModelStatus) bool { return s.Primary == 2 && s.LastGood == 1 })
			time.Sleep(200 * time.Millisecond)
			_, rbErr := env.reg.Rollback(ctx, "fraud", registry.Champion, "walkthrough", "rollback drill")
			back := waitStatus(func(s serving.ModelStatus) bool { return s.Primary == 1 })
			time.Sleep(200 * time.Millisecond)
			close(stop)
			wg.Wait()
			r.Say("%d requests answered during the two moves (by version: %v), %d failed", ok.Load(), seen, failed.Load())
			r.Measure("failed requests during blue/green", float64(failed.Load()), "requests")
			r.Check("the alias move and the rollback were each followed", moved && back && rbErr == nil)
			r.Check("zero failed requests across both switches", failed.Load() == 0 && seen[1] > 0 && seen[2] > 0)
			return nil
		},
	}
}
