package walkthrough

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/casebook-ml/casebook/platform/ml"
	"github.com/casebook-ml/casebook/platform/registry"
	"github.com/casebook-ml/casebook/platform/scenario"
	"github.com/casebook-ml/casebook/platform/serving"
	"github.com/casebook-ml/casebook/platform/serving/servingtest"
)

// servingScenarios are the scenarios of walkthroughs 1.3 (fallbacks), 1.5 (real-time
// serving), 1.6 (rollouts in serving) and 1.8 (multi-tenant serving). They run in process
// on a filesystem registry in a temporary directory.
func servingScenarios(cfg Config) scenario.Set {
	return scenario.Set{servingFallbacks(cfg), servingBatching(cfg), servingRollouts(cfg), servingMultiTenant(cfg)}
}

// servingEnv is a registry in a temporary directory and the models a scenario trained.
type servingEnv struct {
	reg  *registry.Registry
	data ml.Dataset // scoring set with labels, not used for training
	done func()
}

func newServingEnv(r *scenario.Report, k int) (*servingEnv, error) {
	dir, err := os.MkdirTemp("", "casebook-serving-*")
	if err != nil {
		return nil, err
	}
	reg, err := servingtest.OpenRegistry(dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	r.Say("registry: the filesystem store in %s; the server runs in this process", dir)
	test := servingtest.Data(20000, k, 99)
	return &servingEnv{reg: reg, data: test.Dataset, done: func() { os.RemoveAll(dir) }}, nil
}

func (e *servingEnv) row(i, n int) []float64 {
	k := e.data.Schema.Len()
	i %= e.data.Rows() - n
	return e.data.X[i*k : (i+n)*k]
}

// phase is what the callers saw over one stretch of load.
type phase struct {
	requests, failed int
	paths            map[string]int
	versions         map[int]int    // answers by the version that gave them (0: heuristic, default)
	reasons          map[string]int // fallback answers by why the primary did not answer
	lat              []time.Duration
	y, p             []float64
}

func (p *phase) p99() time.Duration {
	if len(p.lat) == 0 {
		return 0
	}
	slices.Sort(p.lat)
	return p.lat[len(p.lat)*99/100]
}

// drive sends one-row requests for model from n callers for d and records answers with
// their labels.
func drive(ctx context.Context, srv *serving.Server, env *servingEnv, model string, n int, d time.Duration, pace time.Duration) *phase {
	ph := &phase{paths: map[string]int{}, versions: map[int]int{}, reasons: map[string]int{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	end := time.Now().Add(d)
	var next atomic.Int64
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) && ctx.Err() == nil {
				i := int(next.Add(1)*7919) % (env.data.Rows() - 1)
				t0 := time.Now()
				res, err := srv.Infer(ctx, serving.Request{Model: model, Decoded: serving.Decoded{Rows: 1, X: env.row(i, 1)}})
				el := time.Since(t0)
				mu.Lock()
				ph.requests++
				if err != nil {
					ph.failed++
				} else {
					ph.paths[res.Path]++
					ph.versions[res.Version]++
					if res.Reason != "" {
						ph.reasons[res.Reason]++
					}
					ph.lat = append(ph.lat, el)
					ph.y = append(ph.y, env.data.Y[i])
					ph.p = append(ph.p, res.Scores[0])
				}
				mu.Unlock()
				if pace > 0 {
					time.Sleep(pace)
				}
			}
		}()
	}
	wg.Wait()
	return ph
}

func (p *phase) report(r *scenario.Report, name string) {
	p99 := p.p99()
	worst := time.Duration(0)
	if len(p.lat) > 0 {
		worst = p.lat[len(p.lat)-1]
	}
	r.Say("%-28s %6d requests, %d without an answer, paths %v, p99 %v, max %v, AUC %.3f", name, p.requests, p.failed, p.paths, p99.Round(time.Microsecond), worst.Round(100*time.Microsecond), ml.AUC(p.y, p.p))
	r.Measure(name+" max latency", float64(worst.Microseconds())/1000, "ms")
	r.Measure(name+" p99", float64(p99.Microseconds())/1000, "ms")
	r.Measure(name+" AUC", ml.AUC(p.y, p.p), "")
	r.Measure(name+" answered", float64(p.requests-p.failed), "requests")
}

func servingFallbacks(cfg Config) scenario.Scenario {
	return scenario.Scenario{
		Name:    "serving/fallbacks",
		Summary: "The model service stalls, then dies, mid-load: every caller still gets an answer inside its deadline, from the last known good version or a heuristic, and the numbers say what that costs in AUC.",
		Run: func(ctx context.Context, r *scenario.Report) error {
			env, err := newServingEnv(r, 15)
			if err != nil {
				return err
			}
			defer env.done()
			train := servingtest.Data(40000, 15, 7)
			r.Step("Register two generations of the fraud model")
			lr, err := servingtest.LogReg(ctx, train.Dataset)
			if err != nil {
				return err
			}
			gb, err := servingtest.GBDT(ctx, train.Dataset, 100, 5)
			if err != nil {
				return err
			}
			for _, m := range []ml.Model{lr, gb} {
				if _, err := servingtest.Register(ctx, env.reg, "fraud", m, registry.Champion); err != nil {
					return err
				}
			}
			if _, err := servingtest.Register(ctx, env.reg, "fraud-new", gb, registry.Champion); err != nil {
				return err
			}
			r.Say("fraud: v1 logistic regression, then v2 boosted trees as champion (so v1 is the last known good version);")
			r.Say("fraud-new: only one version, so its chain goes straight to the heuristic. Both have SLA 20 ms, 5 ms kept for fallbacks.")
			heur := serving.Heuristic{Weights: map[string]float64{"f02": 1.5, "f04": 0.8, "f05": -0.5}, Bias: -2.5}
			sc := serving.DefaultConfig()
			sc.Logger = cfg.Logger
			for _, name := range []string{"fraud", "fraud-new"} {
				mc := serving.DefaultModelConfig(name)
				mc.SLA, mc.FallbackReserve, mc.BreakerFailures, mc.BreakerCooldown = 20*time.Millisecond, 5*time.Millisecond, 5, 300*time.Millisecond
				mc.Fallbacks = []serving.Fallback{heur, serving.Default{Value: 0.1}}
				sc.Models = append(sc.Models, mc)
			}
			srv, err := serving.New(ctx, env.reg, sc)
			if err != nil {
				return err
			}
			defer srv.Close()

			const callers, stretch = 4, 700 * time.Millisecond
			r.Step("Healthy: %d callers for %v", callers, stretch)
			healthy := drive(ctx, srv, env, "fraud", callers, stretch, 200*time.Microsecond)
			healthy.report(r, "healthy (v2 primary)")

			r.Step("The model stalls mid-load (every Predict hangs for 10 s)")
			_ = srv.InjectFault("fraud", &serving.Fault{Stall: 10 * time.Second})
			_ = srv.InjectFault("fraud-new", &serving.Fault{Stall: 10 * time.Second})
			// How late the machine itself runs this process over the same stretch: the
			// deadline can bound the wait for a stalled model, not the wait for a core.
			late := scenario.StartLateness()
			stalled := drive(ctx, srv, env, "fraud", callers, stretch, 200*time.Microsecond)
			stalled.report(r, "stalled → last-good (v1)")
			stalledNew := drive(ctx, srv, env, "fraud-new", callers, stretch, 200*time.Microsecond)
			stalledNew.report(r, "stalled, no last-good → heuristic")
			machine := late.Stop()
			r.Say("meanwhile a goroutine asking for 1 ms naps woke up to %v late (p99 %v): the machine's own lateness", machine.Max.Round(time.Microsecond), machine.P99.Round(time.Microsecond))
			r.Measure("machine lateness while stalled (max)", float64(machine.Max.Microseconds())/1000, "ms")
			st, _ := srv.Status("fraud")
			r.Say("breaker: %s — after %d consecutive timeouts the primary is skipped, so answers stop waiting for it", st.Breaker, 5)

			r.Step("The model process dies (every call fails at once)")
			_ = srv.InjectFault("fraud", &serving.Fault{Down: true})
			down := drive(ctx, srv, env, "fraud", callers, stretch, 200*time.Microsecond)
			down.report(r, "down → last-good (v1)")

			r.Step("It comes back: the breaker lets a probe through, which closes it")
			_ = srv.InjectFault("fraud", nil)
			_ = srv.InjectFault("fraud-new", nil)
			time.Sleep(350 * time.Millisecond)
			back := drive(ctx, srv, env, "fraud", callers, stretch, 200*time.Microsecond)
			back.report(r, "recovered")
			st, _ = srv.Status("fraud")

			def := &phase{}
			for i := range 20000 - 1 {
				def.y, def.p = append(def.y, env.data.Y[i]), append(def.p, 0.1)
			}
			r.Say("a constant default score (the chain's last resort) has AUC %.3f by construction", ml.AUC(def.y, def.p))
			r.Check("no caller went without an answer while the model was stalled or dead",
				stalled.failed == 0 && stalledNew.failed == 0 && down.failed == 0)
			// Nobody waited for the stalled model to come back: every answer came from the
			// fallback chain, and the ones that had tried the primary first say the deadline
			// passed. That holds on any machine.
			r.Check("while stalled, answers came from last-good (fraud) and the heuristic (fraud-new), none from the stalled model",
				stalled.paths[serving.PathLastGood] > 0 && stalledNew.paths[serving.PathHeuristic] > 0 &&
					stalled.paths[serving.PathPrimary] == 0 && stalledNew.paths[serving.PathPrimary] == 0)
			deadline := 20 * time.Millisecond
			r.CheckTiming(fmt.Sprintf("while stalled, p99 stayed inside the 20 ms deadline, allowing for the machine's lateness measured alongside (%v)", machine.Max.Round(time.Microsecond)),
				stalled.p99() <= deadline+machine.Max && stalledNew.p99() <= deadline+machine.Max)
			r.Check("quality cost is visible: AUC primary ≥ last-good ≥ heuristic > default",
				ml.AUC(healthy.y, healthy.p) >= ml.AUC(stalled.y, stalled.p)-0.01 && ml.AUC(stalled.y, stalled.p) >= ml.AUC(stalledNew.y, stalledNew.p)-0.01 &&
					ml.AUC(stalledNew.y, stalledNew.p) > 0.5)
			r.Check("after recovery the primary answers again and the breaker is closed", back.paths[serving.PathPrimary] > 0 && st.Breaker == "closed")
			return nil
		},
	}
}

func errorAs(err error, target any) bool { return errors.As(err, target) }
