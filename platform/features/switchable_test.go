package features_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/platform/features"
	"github.com/casebook-ml/casebook/platform/features/featurestest"
	"github.com/casebook-ml/casebook/platform/features/memory"
)

// TestSwitchable: while down, every call (a write-then-read too) fails as an unreachable
// Redis does; when up, calls reach the store.
func TestSwitchable(t *testing.T) {
	reg, err := featurestest.Registry()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s := &features.Switchable{OnlineStore: memory.New(reg)}
	now := time.Now()
	req := features.ReadRequest{At: now, Views: []features.ViewRequest{{View: "profile", Entities: []string{"u"}}}}
	row := []features.Row{featurestest.ProfileRow("u", now, 1, 1)}
	s.Down.Store(true)
	_, werr := s.Write(ctx, "profile", row)
	_, rerr := s.Read(ctx, req)
	_, wrerr := features.WriteRead(ctx, s, []features.ViewRows{{View: "profile", Rows: row}}, req)
	for name, err := range map[string]error{"Write": werr, "Read": rerr, "WriteRead": wrerr} {
		var ue *features.UnavailableError
		if !errors.As(err, &ue) || !errors.Is(err, features.ErrUnavailable) {
			t.Errorf("%s while down = %v, want an *UnavailableError", name, err)
		}
	}
	s.Down.Store(false)
	res, err := features.WriteRead(ctx, s, []features.ViewRows{{View: "profile", Rows: row}}, req)
	if err != nil || res.Views[0].Get(0, 0).Status != features.Present {
		t.Fatalf("WriteRead when up = %v, %v; want the row read back", res, err)
	}
}
