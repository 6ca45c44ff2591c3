package registry

import (
	"context"
	"fmt"
	"sync"

	"github.com/casebook-ml/casebook/platform/ml"
)

// Decoder turns a verified artifact into what a follower serves: an ml.Model, an ANN index,
// a lookup table. It runs before the swap, so an artifact it refuses is never served.
type Decoder[T any] func(v Version, data []byte) (T, error)

// ArtifactFollower keeps the artifact an alias points to loaded and decoded: when the alias
// moves it fetches the new version (sha256 verified), decodes it and swaps it in; when that
// fails (a corrupt or missing artifact, one the decoder refuses, an alias pointing nowhere)
// it keeps serving what it had and records the error. This is the registry side of a
// blue/green switch, for any kind of artifact.
type ArtifactFollower[T any] struct {
	reg          *Registry
	model, alias string
	decode       Decoder[T]

	mu      sync.RWMutex
	cur     T
	ver     Version
	lastErr error
	swaps   int
	changed chan struct{} // closed and replaced on every load attempt
}

// Follower follows an ml.Model (see Registry.Follow).
type Follower = ArtifactFollower[ml.Model]

// Follow loads model@alias as an ml.Model and keeps following it until ctx ends. It fails
// if the first load fails: there is nothing to fall back to yet.
func (r *Registry) Follow(ctx context.Context, model, alias string) (*Follower, error) {
	return FollowArtifact(ctx, r, model, alias, func(_ Version, data []byte) (ml.Model, error) {
		return ml.Unmarshal(data)
	})
}

// FollowArtifact loads model@alias through decode and keeps following the alias until ctx
// ends. It fails if the first load fails.
func FollowArtifact[T any](ctx context.Context, r *Registry, model, alias string, decode Decoder[T]) (*ArtifactFollower[T], error) {
	f := &ArtifactFollower[T]{reg: r, model: model, alias: alias, decode: decode, changed: make(chan struct{})}
	v, err := r.Resolve(ctx, model, alias)
	if err == nil {
		f.cur, err = f.fetch(ctx, v)
	}
	if err != nil {
		return nil, fmt.Errorf("follow %s@%s: %w", model, alias, err)
	}
	f.ver = v
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

func (f *ArtifactFollower[T]) fetch(ctx context.Context, v Version) (T, error) {
	var zero T
	data, err := f.reg.Artifact(ctx, v)
	if err != nil {
		return zero, err
	}
	t, err := f.decode(v, data)
	if err != nil {
		return zero, fmt.Errorf("%s v%d: %w", v.Model, v.Number, err)
	}
	return t, nil
}

func (f *ArtifactFollower[T]) load(ctx context.Context, version int) {
	var (
		t   T
		v   Version
		err error
	)
	if version == 0 {
		err = fmt.Errorf("follow %s@%s: %w (alias removed)", f.model, f.alias, ErrAliasNotFound)
	} else if v, err = f.reg.Resolve(ctx, f.model, fmt.Sprint(version)); err == nil {
		t, err = f.fetch(ctx, v)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err != nil {
		f.lastErr = err
		f.reg.log.Error("follower kept its artifact", "model", f.model, "alias", f.alias, "serving", f.ver.Number, "wanted", version, "err", err)
	} else {
		f.cur, f.ver, f.lastErr = t, v, nil
		f.swaps++
		f.reg.log.Info("follower switched artifact", "model", f.model, "alias", f.alias, "version", v.Number)
	}
	close(f.changed)
	f.changed = make(chan struct{})
}

// Current returns what is being served and its version.
func (f *ArtifactFollower[T]) Current() (T, Version) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.cur, f.ver
}

// Err returns why the last alias move could not be followed, or nil.
func (f *ArtifactFollower[T]) Err() error {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.lastErr
}

// Swaps counts the successful switches since the first load.
func (f *ArtifactFollower[T]) Swaps() int {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.swaps
}

// Changed returns a channel closed at the next load attempt (successful or not).
func (f *ArtifactFollower[T]) Changed() <-chan struct{} {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.changed
}
