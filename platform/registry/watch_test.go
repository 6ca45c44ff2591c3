package registry_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/platform/registry"
	"github.com/casebook-ml/casebook/platform/registry/fs"
	"github.com/casebook-ml/casebook/platform/registry/registrytest"
)

// countingStore counts the store watches started and still running.
type countingStore struct {
	registry.Store
	started, running atomic.Int64
}

func (s *countingStore) WatchAliases(ctx context.Context) (<-chan registry.AliasEvent, error) {
	s.started.Add(1)
	s.running.Add(1)
	go func() { <-ctx.Done(); s.running.Add(-1) }()
	return s.Store.WatchAliases(ctx)
}

// waitFor reads ch until want arrives; the bound only ends a test that makes no progress.
func waitFor(t *testing.T, ch <-chan registry.AliasEvent, want registry.AliasEvent) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatalf("watch closed before %+v", want)
			}
			if ev == want {
				return
			}
		case <-deadline:
			t.Fatalf("no %+v within 30 s", want)
		}
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for start := time.Now(); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Since(start) > 30*time.Second {
			t.Fatalf("still not %s after 30 s", what)
		}
	}
}

// Every Watch of one Registry shares one store watch: a server following 100 aliases polls
// once, not 100 times. A subscriber that never reads holds back nobody, one that joins late
// starts from the positions seen so far, and the store watch ends with the last subscriber.
func TestWatchSharesOneStoreWatch(t *testing.T) {
	ctx := context.Background()
	cfg := fs.DefaultConfig()
	cfg.Dir, cfg.PollInterval = t.TempDir(), 10*time.Millisecond
	fsStore, err := fs.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	store := &countingStore{Store: fsStore}
	r, err := registry.New(store, registry.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	for i, fp := range []string{"a", "b"} {
		if _, _, err := r.Register(ctx, registrytest.Request(t, "m", fp, 0.8+float64(i)/100)); err != nil {
			t.Fatal(err)
		}
	}
	// More aliases than a subscriber's channel holds, so a subscriber that never reads
	// would block a hub that sent to everyone in turn.
	for i := range 100 {
		if err := store.SetAlias(ctx, "m", fmt.Sprintf("a%d", i), 1); err != nil {
			t.Fatal(err)
		}
	}

	subCtx, cancel := context.WithCancel(ctx)
	var watches []<-chan registry.AliasEvent
	for range 100 {
		ch, err := r.Watch(subCtx)
		if err != nil {
			t.Fatal(err)
		}
		watches = append(watches, ch)
	}
	if got := store.started.Load(); got != 1 {
		t.Fatalf("100 Watch calls started %d store watches, want 1", got)
	}
	stalled, reader := watches[0], watches[1] // stalled is never read
	_ = stalled
	waitFor(t, reader, registry.AliasEvent{Model: "m", Alias: "a99", Version: 1})

	if err := store.SetAlias(ctx, "m", "a7", 2); err != nil {
		t.Fatal(err)
	}
	waitFor(t, reader, registry.AliasEvent{Model: "m", Alias: "a7", Version: 2})
	for _, ch := range watches[2:] {
		waitFor(t, ch, registry.AliasEvent{Model: "m", Alias: "a7", Version: 2})
	}

	// A late subscriber starts from what the hub has seen: a7 at 2 among the positions.
	late, err := r.Watch(subCtx)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, late, registry.AliasEvent{Model: "m", Alias: "a7", Version: 2})

	cancel()
	for _, ch := range append(watches, late) {
		for range ch { // every channel closes once its context ends
		}
	}
	eventually(t, "the store watch stopped after the last subscriber left", func() bool { return store.running.Load() == 0 })

	// The next subscriber starts a fresh store watch with the current positions.
	ctx2, cancel2 := context.WithCancel(ctx)
	defer cancel2()
	again, err := r.Watch(ctx2)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, again, registry.AliasEvent{Model: "m", Alias: "a7", Version: 2})
	if got := store.started.Load(); got != 2 {
		t.Errorf("store watches started = %d, want 2 (one per period with subscribers)", got)
	}
}
