package registry

import (
	"context"
	"fmt"
	"sync"

	"github.com/casebook-ml/casebook/platform/ml"
)

// Follower keeps the model an alias points to loaded: when the alias moves it loads the
// new version (artifact verified) and swaps it in; when that load fails (a corrupt or
// missing artifact, an alias pointing nowhere) it keeps serving the model it had and
// records the error. This is the registry side of a blue/green switch.
type Follower struct {
	reg          *Registry
	model, alias string

	mu      sync.RWMutex
	cur     ml.Model
	ver     Version
	lastErr error
	swaps   int
	changed chan struct{} // closed and replaced on every load attempt
}

// Follow loads model@alias and keeps following it until ctx ends. It fails if the first
// load fails: there is nothing to fall back to yet.
func (r *Registry) Follow(ctx context.Context, model, alias string) (*Follower, error) {
	f := &Follower{reg: r, model: model, alias: alias, changed: make(chan struct{})}
	m, v, err := r.Load(ctx, model, alias)
	if err != nil {
		return nil, fmt.Errorf("follow %s@%s: %w", model, alias, err)
	}
	f.cur, f.ver = m, v
	events, err := r.Watch(ctx)
	if err != nil {
		return nil, fmt.Errorf("follow %s@%s: %w", model, alias, err)
	}
	go func() {
		for ev := range events {
			if ev.Model != model || ev.Alias != alias {
				continue
			}
			f.mu.RLock()
			same := ev.Version == f.ver.Number && f.lastErr == nil
			f.mu.RUnlock()
			if same {
				continue // the watch's initial position, or a repeat
			}
			f.load(ctx, ev.Version)
		}
	}()
	return f, nil
}

func (f *Follower) load(ctx context.Context, version int) {
	var (
		m   ml.Model
		v   Version
		err error
	)
	if version == 0 {
		err = fmt.Errorf("follow %s@%s: %w (alias removed)", f.model, f.alias, ErrAliasNotFound)
	} else {
		m, v, err = f.reg.Load(ctx, f.model, fmt.Sprint(version))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err != nil {
		f.lastErr = err
		f.reg.log.Error("follower kept its model", "model", f.model, "alias", f.alias, "serving", f.ver.Number, "wanted", version, "err", err)
	} else {
		f.cur, f.ver, f.lastErr = m, v, nil
		f.swaps++
		f.reg.log.Info("follower switched model", "model", f.model, "alias", f.alias, "version", v.Number)
	}
	close(f.changed)
	f.changed = make(chan struct{})
}

// Current returns the model being served and its version.
func (f *Follower) Current() (ml.Model, Version) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.cur, f.ver
}

// Err returns why the last alias move could not be followed, or nil.
func (f *Follower) Err() error {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.lastErr
}

// Changed returns a channel closed at the next load attempt (successful or not).
func (f *Follower) Changed() <-chan struct{} {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.changed
}
