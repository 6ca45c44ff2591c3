package recfeatures

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/platform/features"
	"github.com/casebook-ml/casebook/platform/features/memory"
)

func interactions(n int, seed uint64) []Interaction {
	rng := rand.New(rand.NewPCG(seed, 1))
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	out := make([]Interaction, n)
	for i := range out {
		out[i] = Interaction{User: int64(1 + rng.IntN(30)), Item: int64(1 + rng.IntN(50)),
			Time: t0.Add(time.Duration(i)*37*time.Minute + time.Duration(rng.IntN(60))*time.Second)}
	}
	return out
}

// One definition, two executions: the online store, fed interaction by interaction, holds
// exactly the values the batch execution computes for every user and item.
func TestOnlineOfflineParity(t *testing.T) {
	ctx := context.Background()
	reg := features.NewRegistry()
	if err := Register(reg); err != nil {
		t.Fatal(err)
	}
	ins := interactions(3000, 7)
	table, err := ComputeTable(reg, ins)
	if err != nil {
		t.Fatal(err)
	}
	store := memory.New(reg)
	on, err := NewOnline(reg, store)
	if err != nil {
		t.Fatal(err)
	}
	for lo := 0; lo < len(ins); lo += 97 { // uneven batches
		if err := on.Apply(ctx, ins[lo:min(lo+97, len(ins))]); err != nil {
			t.Fatal(err)
		}
	}
	items := make([]int64, 52) // two ids never seen
	for i := range items {
		items[i] = int64(i + 1)
	}
	at := ins[len(ins)-1].Time
	nonzero := 0
	for u := int64(0); u <= 31; u++ {
		var off, onl Stats
		table.Lookup(u, items, &off)
		if err := Read(ctx, store, u, items, at, &onl); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(off.User, onl.User) {
			t.Errorf("user %d: offline %v, online %v", u, off.User, onl.User)
		}
		for i := range items {
			if !slices.Equal(off.Items[i], onl.Items[i]) {
				t.Errorf("item %d: offline %v, online %v", items[i], off.Items[i], onl.Items[i])
			}
			if off.Items[i][len(ItemWindows)-1] > 0 {
				nonzero++
			}
		}
	}
	if nonzero == 0 {
		t.Fatal("every item count is 0: the test compares nothing")
	}
}

func TestTransformRejectsMalformed(t *testing.T) {
	var in features.Input
	for _, data := range []string{"", "12", "|3", "4|"} {
		if err := byItem(features.Event{Data: []byte(data)}, &in); err == nil {
			t.Errorf("byItem(%q) = nil, want an error", data)
		}
	}
	if err := byUser(features.Event{Data: []byte("4|9")}, &in); err != nil || in.Entity != "4" {
		t.Errorf("byUser(4|9) = %v, entity %q; want nil, 4", err, in.Entity)
	}
}
