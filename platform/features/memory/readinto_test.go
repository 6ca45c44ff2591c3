package memory_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/platform/features"
	"github.com/casebook-ml/casebook/platform/features/memory"
)

// ReadInto answers exactly what Read answers, reusing the caller's result: a large read
// then a smaller one leaves nothing of the first behind.
func TestReadIntoMatchesRead(t *testing.T) {
	ctx := context.Background()
	reg := features.NewRegistry()
	v := features.FeatureView{Name: "v", Entity: features.Entity{Name: "e", JoinKey: "e_id"}, TTL: time.Hour,
		Features: []features.Feature{{Name: "x", Kind: features.KindFloat}, {Name: "y", Kind: features.KindInt}}}
	if err := reg.RegisterView(v); err != nil {
		t.Fatal(err)
	}
	s := memory.New(reg)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rows := []features.Row{
		{Entity: "a", Time: t0, Seq: 1, Values: []features.Value{features.Float(1.5), features.Int(2)}},
		{Entity: "b", Time: t0.Add(-2 * time.Hour), Seq: 2, Values: []features.Value{features.Float(3), features.Int(4)}}, // stale at t0
	}
	if _, err := s.Write(ctx, "v", rows); err != nil {
		t.Fatal(err)
	}
	var dst features.ReadResult
	for _, ents := range [][]string{{"a", "b", "c", "a"}, {"c"}, {"b", "a"}} {
		req := features.ReadRequest{At: t0, Views: []features.ViewRequest{{View: "v", Entities: ents}}}
		want, err := s.Read(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if err := features.ReadInto(ctx, s, req, &dst); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(*want, dst) {
			t.Errorf("ReadInto(%v) = %+v, want Read's %+v", ents, dst, *want)
		}
	}
}
