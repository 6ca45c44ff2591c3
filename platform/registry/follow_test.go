package registry_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/platform/registry"
	"github.com/casebook-ml/casebook/platform/registry/fs"
	"github.com/casebook-ml/casebook/platform/registry/registrytest"
)

func openFS(t *testing.T) (*registry.Registry, *fs.Store) {
	t.Helper()
	cfg := fs.DefaultConfig()
	cfg.Dir, cfg.PollInterval = t.TempDir(), 10*time.Millisecond
	s, err := fs.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r, err := registry.New(s, registry.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	return r, s
}

// A follower swaps models when the alias moves, and keeps the one it has when the new
// version's artifact is corrupt.
func TestFollower(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r, s := openFS(t)
	promote := func(v int) {
		t.Helper()
		if _, err := r.Promote(ctx, registry.PromoteRequest{Model: "m", Alias: registry.Champion, Version: v, Actor: "t", Gates: registry.DefaultGates(), Force: true, Reason: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.Follow(ctx, "m", registry.Champion); !errors.Is(err, registry.ErrModelNotFound) {
		t.Errorf("Follow(nothing registered) = %v, want ErrModelNotFound", err)
	}
	var vs []registry.Version
	for i, fp := range []string{"a", "b", "c"} {
		v, _, err := r.Register(ctx, registrytest.Request(t, "m", fp, 0.8+float64(i)/100))
		if err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v)
	}
	promote(1)
	f, err := r.Follow(ctx, "m", registry.Champion)
	if err != nil {
		t.Fatal(err)
	}
	wait := func(ch <-chan struct{}) {
		t.Helper()
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatal("follower did not react to the alias move")
		}
	}
	ch := f.Changed()
	promote(2)
	wait(ch)
	if _, v := f.Current(); v.Number != 2 || f.Err() != nil {
		t.Errorf("after champion → v2: serving v%d, err %v; want v2, nil", v.Number, f.Err())
	}
	// Corrupt v3's artifact: all versions share one artifact here, so replace the file
	// after v2 is loaded and before v3 is promoted.
	if err := os.WriteFile(s.ArtifactPath(vs[2].Artifact), []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	ch = f.Changed()
	promote(3)
	wait(ch)
	m, v := f.Current()
	var ae *registry.ArtifactError
	if v.Number != 2 || m == nil || !errors.As(f.Err(), &ae) {
		t.Errorf("after champion → corrupt v3: serving v%d (model %v), err %v; want v2 kept and an ArtifactError", v.Number, m != nil, f.Err())
	}
}

// failingStore fails every version write, as a full disk or a lost connection would.
type failingStore struct{ registry.Store }

func (failingStore) CreateVersion(context.Context, registry.Version) error {
	return errors.New("disk full")
}

func TestFailedRegistrationLeavesNothing(t *testing.T) {
	ctx := context.Background()
	_, s := openFS(t)
	r, err := registry.New(failingStore{s}, registry.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.Register(ctx, registrytest.Request(t, "m", "fp", 0.8)); err == nil {
		t.Fatal("Register(store fails) = nil, want an error")
	}
	vs, _ := s.ListVersions(ctx, "m")
	audit, _ := s.Audit(ctx)
	if len(vs) != 0 || len(audit) != 0 {
		t.Errorf("after a failed registration: %d versions, %d audit entries; want none", len(vs), len(audit))
	}
}

// TestRegisterRefusesUndefinedMetrics: an undefined metric is left out, never stored as NaN
// or ±Inf; Register names the one it refuses and stores nothing.
func TestRegisterRefusesUndefinedMetrics(t *testing.T) {
	ctx := context.Background()
	r, s := openFS(t)
	for _, v := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		req := registrytest.Request(t, "m", "fp", 0.8)
		req.Version.Metrics["holdout"]["ap"] = v
		_, _, err := r.Register(ctx, req)
		if !errors.Is(err, registry.ErrInvalid) || !strings.Contains(err.Error(), "holdout/ap") {
			t.Errorf("Register(ap = %v) = %v, want ErrInvalid naming holdout/ap", v, err)
		}
	}
	if vs, _ := s.ListVersions(ctx, "m"); len(vs) != 0 {
		t.Errorf("%d versions stored after refused registrations, want 0", len(vs))
	}
}

// An artifact follower serves any kind of artifact through its decoder: a version the
// decoder refuses is never swapped in, and the previous one keeps serving.
func TestArtifactFollowerKeepsWhatItHasWhenDecodeFails(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r, _ := openFS(t)
	for i, fp := range []string{"a", "b"} {
		req := registrytest.Request(t, "idx", fp, 0.9)
		req.Version.Family = "ann-index"
		req.Data = []byte("index-" + fp)
		req.Version.Params = map[string]string{"n": fmt.Sprint(i)}
		if _, _, err := r.Register(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	promote := func(v int) {
		t.Helper()
		if _, err := r.Promote(ctx, registry.PromoteRequest{Model: "idx", Alias: registry.Champion, Version: v, Actor: "t", Gates: registry.DefaultGates(), Force: true, Reason: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	promote(1)
	decode := func(v registry.Version, data []byte) (string, error) {
		if string(data) == "index-b" {
			return "", errors.New("refused by the decoder")
		}
		return string(data), nil
	}
	f, err := registry.FollowArtifact(ctx, r, "idx", registry.Champion, decode)
	if err != nil {
		t.Fatal(err)
	}
	if got, v := f.Current(); got != "index-a" || v.Number != 1 {
		t.Fatalf("Current() = %q v%d, want index-a v1", got, v.Number)
	}
	ch := f.Changed()
	promote(2)
	select {
	case <-ch:
	case <-ctx.Done():
		t.Fatal("follower did not react to the alias move")
	}
	if got, v := f.Current(); got != "index-a" || v.Number != 1 || f.Err() == nil || f.Swaps() != 0 {
		t.Errorf("after a move to an artifact the decoder refuses: serving %q v%d, err %v, swaps %d; want index-a v1 kept, an error, 0 swaps", got, v.Number, f.Err(), f.Swaps())
	}
}

// A registration that misses a floor stores nothing.
func TestRegisterRefusesBelowFloor(t *testing.T) {
	ctx := context.Background()
	r, s := openFS(t)
	req := registrytest.Request(t, "idx", "fp", 0.8)
	req.Version.Metrics["holdout"]["recall_at_10"] = 0.39
	req.Floors = []registry.Floor{{EvalSet: "holdout", Metric: "recall_at_10", Min: 0.95}}
	_, _, err := r.Register(ctx, req)
	var fe *registry.FloorError
	if !errors.Is(err, registry.ErrGateFailed) || !errors.As(err, &fe) || !strings.Contains(err.Error(), "recall_at_10 0.3900") {
		t.Errorf("Register(recall 0.39 under floor 0.95) = %v, want a FloorError naming the recall", err)
	}
	if vs, _ := s.ListVersions(ctx, "idx"); len(vs) != 0 {
		t.Errorf("%d versions stored after a refused registration, want 0", len(vs))
	}
	req.Version.Metrics["holdout"]["recall_at_10"] = 0.96
	if _, _, err := r.Register(ctx, req); err != nil {
		t.Errorf("Register(recall 0.96 over floor 0.95) = %v, want nil", err)
	}
}

// FollowWith: Admit refuses a version before its artifact is fetched, Refused hears of it
// exactly once, Swapped hands over every switch, a lazy follower starts with nothing, and
// DropOnRemove empties it when the alias is removed.
func TestFollowWithAdmitsSwapsAndDrops(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r, _ := openFS(t)
	for i, fp := range []string{"a", "b", "c"} {
		req := registrytest.Request(t, "idx", fp, 0.9)
		req.Version.Family, req.Data = "ann-index", []byte("index-"+fp)
		req.Version.FeatureServiceHash = map[bool]string{true: "sha256:other", false: "sha256:svc"}[i == 1]
		if _, _, err := r.Register(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	type swap struct{ from, to int }
	var (
		swaps   []swap // written under the follower's lock, read after Changed fires
		refused []int
	)
	cfg := registry.FollowConfig[string]{Model: "idx", Alias: registry.Challenger, Lazy: true, DropOnRemove: true,
		Decode: func(_ registry.Version, data []byte) (string, error) { return string(data), nil },
		Admit: func(v registry.Version) error {
			if v.ServingSchemaHash() != "sha256:svc" {
				return errors.New("trained on another feature service")
			}
			return nil
		},
		Swapped: func(_ string, oldV registry.Version, _ string, curV registry.Version) {
			swaps = append(swaps, swap{oldV.Number, curV.Number})
		},
		Refused: func(_ registry.Version, wanted int, _ error) { refused = append(refused, wanted) },
	}
	f, err := registry.FollowWith(ctx, r, cfg)
	if err != nil {
		t.Fatalf("FollowWith(lazy, no alias yet) = %v, want a follower serving nothing", err)
	}
	if got, v := f.Current(); got != "" || v.Number != 0 {
		t.Fatalf("lazy Current() = %q v%d, want nothing", got, v.Number)
	}
	move := func(v int) {
		t.Helper()
		ch := f.Changed()
		if v == 0 {
			if err := r.RemoveAlias(ctx, "idx", registry.Challenger, "t", "test"); err != nil {
				t.Fatal(err)
			}
		} else if _, err := r.Promote(ctx, registry.PromoteRequest{Model: "idx", Alias: registry.Challenger, Version: v, Actor: "t", Gates: registry.DefaultGates(), Force: true, Reason: "test"}); err != nil {
			t.Fatal(err)
		}
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatal("follower did not react to the alias move")
		}
	}
	move(1)
	move(2) // refused by Admit
	if got, v := f.Current(); got != "index-a" || v.Number != 1 || f.Err() == nil {
		t.Errorf("after a move Admit refuses: %q v%d, err %v; want index-a v1 kept and an error", got, v.Number, f.Err())
	}
	move(3)
	move(0)
	if got, v := f.Current(); got != "" || v.Number != 0 || f.Err() != nil {
		t.Errorf("after the alias was removed: %q v%d, err %v; want nothing served, no error", got, v.Number, f.Err())
	}
	want := []swap{{0, 1}, {1, 3}, {3, 0}}
	if fmt.Sprint(swaps) != fmt.Sprint(want) || fmt.Sprint(refused) != "[2]" {
		t.Errorf("swaps %v, refused %v; want %v and [2]", swaps, refused, want)
	}
	cancel()
	<-f.Done()
}

// A refusal recorded by a consumer is in the audit chain but is not an alias move: a
// rollback looks past it.
func TestRecordRefusalIsNotAMove(t *testing.T) {
	ctx := context.Background()
	r, _ := openFS(t)
	for _, fp := range []string{"a", "b"} {
		if _, _, err := r.Register(ctx, registrytest.Request(t, "m", fp, 0.8)); err != nil {
			t.Fatal(err)
		}
	}
	for _, v := range []int{1, 2} {
		if _, err := r.Promote(ctx, registry.PromoteRequest{Model: "m", Alias: registry.Champion, Version: v, Actor: "t", Gates: registry.DefaultGates(), Force: true, Reason: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.RecordRefusal(ctx, "m", registry.Champion, 0, 2, "serving", "trained on another feature service"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.RecordRefusal(ctx, "m", registry.Champion, 0, 2, "serving", ""); !errors.Is(err, registry.ErrInvalid) {
		t.Errorf("RecordRefusal(no reason) = %v, want ErrInvalid", err)
	}
	mv, err := r.Rollback(ctx, "m", registry.Champion, "t", "refused by serving")
	if err != nil || mv.Audit.To != 1 {
		t.Errorf("Rollback after a refusal = %+v, %v; want champion back at v1", mv.Audit, err)
	}
	if _, err := r.VerifyAudit(ctx); err != nil {
		t.Errorf("VerifyAudit: %v", err)
	}
}
