// Package scenarios holds the recommender's runnable demonstrations (recsys scenario list).
// They share one simulated world, fitted once per process: a smaller MovieLens-shaped data
// set, so the whole set runs in seconds.
package scenarios

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/casebook-ml/casebook/platform/features/memory"
	"github.com/casebook-ml/casebook/platform/registry"
	regfs "github.com/casebook-ml/casebook/platform/registry/fs"
	"github.com/casebook-ml/casebook/recsys/internal/live"
	"github.com/casebook-ml/casebook/recsys/internal/ratings"
	"github.com/casebook-ml/casebook/recsys/internal/recommend"
	"github.com/casebook-ml/casebook/recsys/internal/retrieval"
	"github.com/casebook-ml/casebook/recsys/internal/train"
	"github.com/casebook-ml/casebook/recsys/sim"
)

// worldConfig is the scenarios' simulation: 600 users, 1,200 items, 40,000 interactions.
func worldConfig() sim.Config {
	c := sim.DefaultConfig()
	c.Users, c.Items, c.Interactions, c.MaxPerUser = 600, 1200, 40000, 400
	// Tastes shift two days after the data ends (recsys/decay serves across it); every
	// interaction of the data set was drawn before.
	c.ShiftAt = c.Start.Add(c.Period + ShiftAfter)
	c.ShiftStrength = 1
	// Clicks: an average user's best item at the top slot is clicked half the time, so a
	// few thousand impressions measure CTR to a few tenths of a percent.
	c.ClickTop = 0.5
	return c
}

// trainConfig is the default training, a little lighter.
func trainConfig() train.Config {
	c := train.DefaultConfig()
	c.Candidates = 200
	return c
}

// ShiftAfter is how long after the data set ends the simulated tastes shift.
const ShiftAfter = 48 * time.Hour

type world struct {
	sim     *sim.Sim
	xs      []sim.Interaction
	ratings []ratings.Rating
	end     time.Time

	modelsOnce sync.Once
	models     *train.Models
	modelsErr  error
}

// fitted returns the model set fitted on the whole world with trainConfig, once per
// process (the scenarios that need a second, different model fit their own).
func (w *world) fitted(ctx context.Context) (*train.Models, error) {
	w.modelsOnce.Do(func() { w.models, w.modelsErr = train.Fit(ctx, w.ratings, trainConfig()) })
	return w.models, w.modelsErr
}

var (
	worldOnce sync.Once
	theWorld  *world
	worldErr  error
)

// getWorld simulates the scenarios' data once per process.
func getWorld(ctx context.Context) (*world, error) {
	worldOnce.Do(func() {
		s, err := sim.New(worldConfig())
		if err != nil {
			worldErr = err
			return
		}
		xs, err := s.Generate(ctx)
		if err != nil {
			worldErr = err
			return
		}
		w := &world{sim: s, xs: xs, ratings: sim.Ratings(xs), end: time.Unix(xs[len(xs)-1].Time, 0).UTC()}
		theWorld = w
	})
	return theWorld, worldErr
}

// tempRegistry opens a filesystem registry in a temporary directory; cleanup removes it.
func tempRegistry() (*registry.Registry, func(), error) {
	dir, err := os.MkdirTemp("", "recsys-registry-*")
	if err != nil {
		return nil, nil, err
	}
	cfg := regfs.DefaultConfig()
	cfg.Dir, cfg.PollInterval = dir, 20*time.Millisecond
	st, err := regfs.Open(cfg)
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	reg, err := registry.New(st, registry.DefaultConfig())
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, fmt.Errorf("registry: %w", err)
	}
	return reg, func() { os.RemoveAll(dir) }, nil
}

// running publishes the world's fitted models to a fresh registry and starts the live
// system over them, features read as of the end of the data; stop ends it.
func (w *world) running(ctx context.Context) (sys *live.System, pub live.Published, stop func(), err error) {
	m, err := w.fitted(ctx)
	if err != nil {
		return nil, pub, nil, err
	}
	reg, cleanup, err := tempRegistry()
	if err != nil {
		return nil, pub, nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	stop = func() { cancel(); cleanup() }
	if pub, err = live.Publish(ctx, reg, m, retrieval.DefaultBuildConfig(), "scenario", nil); err != nil {
		stop()
		return nil, pub, nil, err
	}
	if sys, err = live.Start(ctx, reg, m, memory.New(m.Features), recommend.DefaultConfig(), func() time.Time { return w.end }, nil); err != nil {
		stop()
		return nil, pub, nil, err
	}
	return sys, pub, stop, nil
}
