package registry

import (
	"context"
	"fmt"
	"sync"

	"github.com/casebook-ml/casebook/platform/ml"
)

// Decoder turns a verified artifact into what a follower serves: an ml.Model, an ANN index,
// a lookup table, a warmed serving host. It runs before the swap, so an artifact it refuses
// is never served.
type Decoder[T any] func(v Version, data []byte) (T, error)

// FollowConfig says what an ArtifactFollower follows and how it admits, decodes and hands
// over what it loads. Only Model, Alias and Decode are required.
type FollowConfig[T any] struct {
	Model, Alias string
	Decode       Decoder[T]
	// Admit, when set, checks a version's record before its artifact is fetched; an error
	// refuses the version like a corrupt artifact would (the follower keeps what it has).
	// Serving checks here that the version was trained on the feature service it serves.
	Admit func(v Version) error
	// Swapped, when set, is called after a load replaced old (zero, with version 0, on the
	// first load) with cur, or, when the alias was removed and DropOnRemove is set, with
	// cur zero and version 0. It runs under the follower's lock, before Changed fires, so
	// whoever mirrors the follower (serving's atomic slots) never lags behind it.
	Swapped func(old T, oldV Version, cur T, curV Version)
	// Refused, when set, is called once for each version the follower could not load,
	// with what it kept serving (version 0: nothing).
	Refused func(kept Version, wanted int, err error)
	// Lazy starts the follower even when the alias cannot be loaded yet; it serves nothing
	// (Current returns version 0) until a load succeeds.
	Lazy bool
	// DropOnRemove stops serving when the alias is removed (a canary or a shadow run ends)
	// instead of keeping the last version.
	DropOnRemove bool
}

// ArtifactFollower keeps the artifact an alias points to loaded and decoded: when the alias
// moves it fetches the new version (sha256 verified), admits and decodes it and swaps it
// in; when that fails (a corrupt or missing artifact, one the decoder or Admit refuses, an
// alias pointing nowhere) it keeps serving what it had and records the error. It is the one
// implementation of a blue/green switch on an alias, for any kind of artifact: serving's
// per-model versions, the recommender's index and ranker and the bidder's click model all
// follow their aliases through it.
type ArtifactFollower[T any] struct {
	reg *Registry
	cfg FollowConfig[T]

	loadMu  sync.Mutex // serializes loads
	mu      sync.RWMutex
	cur     T
	ver     Version
	tried   int // the version the last load attempt was for
	lastErr error
	swaps   int
	changed chan struct{} // closed and replaced on every load attempt
	done    chan struct{} // closed when the follower stops watching
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
	return FollowWith(ctx, r, FollowConfig[T]{Model: model, Alias: alias, Decode: decode})
}

// FollowWith loads cfg.Model@cfg.Alias and keeps following the alias until ctx ends. Unless
// cfg.Lazy is set it fails if the first load fails.
func FollowWith[T any](ctx context.Context, r *Registry, cfg FollowConfig[T]) (*ArtifactFollower[T], error) {
	if cfg.Decode == nil || !ValidName(cfg.Model) || !ValidName(cfg.Alias) {
		return nil, fmt.Errorf("follow %s@%s: %w: a valid model, alias and a decoder are required", cfg.Model, cfg.Alias, ErrInvalid)
	}
	f := &ArtifactFollower[T]{reg: r, cfg: cfg, changed: make(chan struct{}), done: make(chan struct{})}
	v, err := r.Resolve(ctx, cfg.Model, cfg.Alias)
	switch {
	case err == nil:
		f.load(ctx, v.Number)
		if err = f.Err(); err != nil && !cfg.Lazy {
			return nil, err
		}
	case !cfg.Lazy:
		return nil, fmt.Errorf("follow %s@%s: %w", cfg.Model, cfg.Alias, err)
	}
	events, err := r.Watch(ctx)
	if err != nil {
		return nil, fmt.Errorf("follow %s@%s: %w", cfg.Model, cfg.Alias, err)
	}
	go func() {
		defer close(f.done)
		for ev := range events {
			if ev.Model != cfg.Model || ev.Alias != cfg.Alias {
				continue
			}
			f.mu.RLock()
			same := ev.Version == f.tried
			f.mu.RUnlock()
			if same {
				continue // the watch's initial position, or a repeat
			}
			f.load(ctx, ev.Version)
		}
	}()
	return f, nil
}

func (f *ArtifactFollower[T]) fetch(ctx context.Context, version int) (T, Version, error) {
	var zero T
	v, err := f.reg.Resolve(ctx, f.cfg.Model, fmt.Sprint(version))
	if err != nil {
		return zero, Version{}, err
	}
	if f.cfg.Admit != nil {
		if err := f.cfg.Admit(v); err != nil {
			return zero, v, fmt.Errorf("%s v%d refused: %w", v.Model, v.Number, err)
		}
	}
	data, err := f.reg.Artifact(ctx, v)
	if err != nil {
		return zero, v, err
	}
	t, err := f.cfg.Decode(v, data)
	if err != nil {
		return zero, v, fmt.Errorf("%s v%d: %w", v.Model, v.Number, err)
	}
	return t, v, nil
}

// load moves to version (0: the alias was removed). Loads are serialized by loadMu, so a
// slow decode (a serving host warming up) holds back the next move, never races it; the
// state lock is held only to read and publish, so Current and Err never wait for a decode.
func (f *ArtifactFollower[T]) load(ctx context.Context, version int) {
	f.loadMu.Lock()
	defer f.loadMu.Unlock()
	var zero T
	f.mu.Lock()
	f.tried = version
	old, oldV := f.cur, f.ver
	switch {
	case version != 0 && version == oldV.Number:
		f.lastErr = nil // back to what is served (a rollback after a refused move)
		f.signalLocked()
		f.mu.Unlock()
		return
	case version == 0 && f.cfg.DropOnRemove:
		f.cur, f.ver, f.lastErr = zero, Version{}, nil
		if oldV.Number != 0 && f.cfg.Swapped != nil {
			f.cfg.Swapped(old, oldV, zero, Version{})
		}
		f.signalLocked()
		f.mu.Unlock()
		f.reg.log.Info("follower dropped its artifact: alias removed", "model", f.cfg.Model, "alias", f.cfg.Alias, "was", oldV.Number)
		return
	}
	f.mu.Unlock()

	var (
		t   T
		v   Version
		err error
	)
	if version == 0 {
		err = fmt.Errorf("follow %s@%s: %w (alias removed)", f.cfg.Model, f.cfg.Alias, ErrAliasNotFound)
	} else if t, v, err = f.fetch(ctx, version); err != nil {
		err = fmt.Errorf("follow %s@%s: %w", f.cfg.Model, f.cfg.Alias, err)
	}
	if err != nil {
		f.reg.log.Error("follower kept its artifact", "model", f.cfg.Model, "alias", f.cfg.Alias, "serving", oldV.Number, "wanted", version, "err", err)
		if f.cfg.Refused != nil {
			f.cfg.Refused(oldV, version, err)
		}
		f.mu.Lock()
		f.lastErr = err
		f.signalLocked()
		f.mu.Unlock()
		return
	}
	f.mu.Lock()
	f.cur, f.ver, f.lastErr = t, v, nil
	if oldV.Number != 0 {
		f.swaps++
	}
	if f.cfg.Swapped != nil {
		f.cfg.Swapped(old, oldV, t, v)
	}
	f.signalLocked()
	f.mu.Unlock()
	f.reg.log.Info("follower switched artifact", "model", f.cfg.Model, "alias", f.cfg.Alias, "from", oldV.Number, "version", v.Number)
}

// signalLocked wakes whoever waits on Changed; f.mu must be held.
func (f *ArtifactFollower[T]) signalLocked() {
	close(f.changed)
	f.changed = make(chan struct{})
}

// Current returns what is being served and its version (0 when nothing is).
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

// Done returns a channel closed once the follower has stopped watching (its context
// ended): no load runs after it is closed.
func (f *ArtifactFollower[T]) Done() <-chan struct{} { return f.done }
