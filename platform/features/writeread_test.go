package features_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/platform/features"
	"github.com/casebook-ml/casebook/platform/features/featurestest"
	"github.com/casebook-ml/casebook/platform/features/memory"
)

// WriteReadInto on the memory store reads what WriteRead reads, into the caller's result,
// whose table is reused by the next call of the same shape.
func TestWriteReadInto(t *testing.T) {
	reg, err := featurestest.Registry()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	now := time.Unix(1_700_000_000, 0).UTC()
	req := features.ReadRequest{At: now, Views: []features.ViewRequest{{View: "profile", Entities: []string{"u", "v", "w"}}}}
	var dst features.ReadResult
	var first *features.FeatureValue
	for i := range 3 {
		rows := []features.Row{featurestest.ProfileRow("u", now, 1, int64(i)), featurestest.ProfileRow("v", now, 2, int64(10+i))}
		ws := []features.ViewRows{{View: "profile", Rows: rows}}
		if err := features.WriteReadInto(ctx, memory.New(reg), ws, req, &dst); err != nil {
			t.Fatal(err)
		}
		want, err := features.WriteRead(ctx, memory.New(reg), ws, req)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(dst, *want) {
			t.Fatalf("call %d: WriteReadInto = %+v, want %+v", i, dst, *want)
		}
		if i == 0 {
			first = &dst.Views[0].Values[0]
			continue
		}
		if p := &dst.Views[0].Values[0]; p != first {
			t.Errorf("call %d: the result's table was allocated again", i)
		}
	}
}
