package featurestest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/platform/features"
)

// NewStore makes an empty online store over reg for one subtest. Stores sharing a server
// must not see each other's rows (use a fresh key prefix).
type NewStore func(t *testing.T, reg *features.Registry) features.OnlineStore

// RunConformance checks the features.OnlineStore contract: TTL enforced on read, newest row
// wins whatever order writes arrive in, missing entities, batch reads across views, and
// bad input rejected with nothing written.
func RunConformance(t *testing.T, newStore NewStore) {
	reg, err := Registry()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

	read := func(t *testing.T, s features.OnlineStore, view string, feats []string, ents ...string) features.ViewResult {
		t.Helper()
		res, err := s.Read(ctx, features.ReadRequest{At: now, Views: []features.ViewRequest{{View: view, Features: feats, Entities: ents}}})
		if err != nil {
			t.Fatalf("Read(%s %v) = %v", view, ents, err)
		}
		return res.Views[0]
	}
	write := func(t *testing.T, s features.OnlineStore, view string, rows ...features.Row) features.WriteStats {
		t.Helper()
		st, err := s.Write(ctx, view, rows)
		if err != nil {
			t.Fatalf("Write(%s) = %v", view, err)
		}
		return st
	}

	t.Run("round trip of every kind", func(t *testing.T) {
		s := newStore(t, reg)
		row := ProfileRow("u1", now.Add(-time.Minute), 1, 42)
		write(t, s, "profile", row)
		got := read(t, s, "profile", nil, "u1")
		for j, fv := range got.Values {
			if fv.Status != features.Present || !fv.Value.Equal(row.Values[j]) || !fv.Time.Equal(row.Time) {
				t.Errorf("Read(profile u1 %s) = %v %v %v, want PRESENT %v %v", got.Features[j], fv.Status, fv.Value, fv.Time, row.Values[j], row.Time)
			}
		}
	})

	t.Run("write then read in one call", func(t *testing.T) {
		s := newStore(t, reg)
		write(t, s, "profile", ProfileRow("u1", now.Add(-time.Minute), 2, 7)) // newer than the one below
		res, err := features.WriteRead(ctx, s, []features.ViewRows{
			{View: "profile", Rows: []features.Row{ProfileRow("u1", now.Add(-2*time.Minute), 1, 1), ProfileRow("u2", now, 1, 8)}},
		}, features.ReadRequest{At: now, Views: []features.ViewRequest{{View: "profile", Features: []string{"age"}, Entities: []string{"u1", "u2", "u3"}}}})
		if err != nil {
			t.Fatalf("WriteRead = %v", err)
		}
		got := res.Views[0]
		want := []struct {
			status features.Status
			age    features.Value
		}{{features.Present, ProfileRow("u1", now, 2, 7).Values[0]}, {features.Present, ProfileRow("u2", now, 1, 8).Values[0]}, {features.Missing, features.Null()}}
		for i, w := range want {
			if fv := got.Get(i, 0); fv.Status != w.status || !fv.Value.Equal(w.age) {
				t.Errorf("WriteRead: %s age = %v %v, want %v %v (the older write ignored, the new one read back)", got.Entities[i], fv.Status, fv.Value, w.status, w.age)
			}
		}
		if _, err := features.WriteRead(ctx, s, []features.ViewRows{{View: "no-such-view", Rows: []features.Row{ProfileRow("u9", now, 1, 1)}}},
			features.ReadRequest{At: now, Views: []features.ViewRequest{{View: "profile", Entities: []string{"u9"}}}}); err == nil {
			t.Error("WriteRead to an unknown view = nil error, want one")
		}
		if v := read(t, s, "profile", []string{"age"}, "u9").Get(0, 0); v.Status != features.Missing {
			t.Errorf("after a refused WriteRead, u9 is %v, want MISSING (nothing written)", v.Status)
		}
	})

	t.Run("TTL enforced on read", func(t *testing.T) {
		s := newStore(t, reg) // profile TTL is 1h
		write(t, s, "profile",
			ProfileRow("fresh", now.Add(-59*time.Minute), 1, 1),
			ProfileRow("edge", now.Add(-time.Hour), 1, 2),
			ProfileRow("old", now.Add(-time.Hour-time.Nanosecond), 1, 3))
		got := read(t, s, "profile", []string{"age"}, "fresh", "edge", "old")
		for i, want := range []features.Status{features.Present, features.Present, features.Stale} {
			fv := got.Get(i, 0)
			if fv.Status != want {
				t.Errorf("Read(%s).Status = %v, want %v", got.Entities[i], fv.Status, want)
			}
		}
		if fv := got.Get(2, 0); !fv.Value.IsNull() || fv.Time.IsZero() {
			t.Errorf("a stale value came back as %v (time %v); want no value and the row's time", fv.Value, fv.Time)
		}
	})

	t.Run("missing entity and null value", func(t *testing.T) {
		s := newStore(t, reg)
		row := ProfileRow("u1", now, 1, 5)
		row.Values[1] = features.Null()
		write(t, s, "profile", row)
		got := read(t, s, "profile", []string{"age", "score"}, "nobody", "u1")
		if fv := got.Get(0, 0); fv.Status != features.Missing || !fv.Time.IsZero() {
			t.Errorf("Read(nobody) = %v at %v, want MISSING with no time", fv.Status, fv.Time)
		}
		if fv := got.Get(1, 1); fv.Status != features.Missing || !fv.Time.Equal(now) {
			t.Errorf("Read(u1 null score) = %v at %v, want MISSING at the row's time", fv.Status, fv.Time)
		}
	})

	t.Run("newest row wins in any write order", func(t *testing.T) {
		s := newStore(t, reg)
		older, newer := ProfileRow("u1", now.Add(-10*time.Minute), 1, 10), ProfileRow("u1", now.Add(-5*time.Minute), 2, 20)
		if st := write(t, s, "profile", newer); st.Applied != 1 {
			t.Errorf("first write applied %d rows, want 1", st.Applied)
		}
		if st := write(t, s, "profile", newer); st.Applied != 0 || st.Ignored != 1 {
			t.Errorf("the same row again = %+v, want nothing applied", st)
		}
		if st := write(t, s, "profile", older); st.Applied != 0 {
			t.Errorf("an older row after a newer one = %+v, want nothing applied", st)
		}
		if v := read(t, s, "profile", []string{"age"}, "u1").Get(0, 0).Value.Int(); v != 20 {
			t.Errorf("age = %d, want 20 (the newer row)", v)
		}
		revised := ProfileRow("u1", now.Add(-5*time.Minute), 3, 21) // same instant, later emission
		if st := write(t, s, "profile", revised); st.Applied != 1 {
			t.Errorf("a later emission for the same time = %+v, want applied", st)
		}
		if v := read(t, s, "profile", []string{"age"}, "u1").Get(0, 0).Value.Int(); v != 21 {
			t.Errorf("age = %d, want 21 (the later emission)", v)
		}
	})

	t.Run("batch read across views and many entities", func(t *testing.T) {
		s := newStore(t, reg)
		var prof, spend []features.Row
		ents := make([]string, 300)
		for i := range ents {
			ents[i] = fmt.Sprint("e", i)
			prof = append(prof, ProfileRow(ents[i], now, 1, int64(i)))
			spend = append(spend, features.Row{Entity: ents[i], Time: now.Add(-time.Hour), Seq: 1, Values: spendValues(int64(i))})
		}
		write(t, s, "profile", prof...)
		write(t, s, "customer_spending", spend...)
		res, err := s.Read(ctx, features.ReadRequest{At: now, Views: []features.ViewRequest{
			{View: "customer_spending", Features: []string{"amount_mean_7d", "tx_count_1d"}, Entities: ents},
			{View: "profile", Features: []string{"embedding"}, Entities: append([]string{"ghost"}, ents[:10]...)},
		}})
		if err != nil {
			t.Fatal(err)
		}
		for i := range ents {
			if c := res.Views[0].Get(i, 1).Value.Int(); c != int64(i) {
				t.Fatalf("customer_spending %s tx_count_1d = %d, want %d", ents[i], c, i)
			}
		}
		if st := res.Views[1].Get(0, 0).Status; st != features.Missing {
			t.Errorf("ghost embedding = %v, want MISSING", st)
		}
		if v := res.Views[1].Get(4, 0).Value.Vector(); len(v) != 4 || v[0] != 3 {
			t.Errorf("e3 embedding = %v, want [3 1 2 3]", v)
		}
	})

	t.Run("bad input names the problem and writes nothing", func(t *testing.T) {
		s := newStore(t, reg)
		good := ProfileRow("ok", now, 1, 1)
		nan := ProfileRow("nan", now, 1, 1)
		nan.Values[1] = features.Float(math.NaN())
		inf := ProfileRow("inf", now, 1, 1)
		inf.Values[1] = features.Float(math.Inf(-1))
		wrong := ProfileRow("wrong", now, 1, 1)
		wrong.Values[0] = features.String("forty")
		short := ProfileRow("short", now, 1, 1)
		short.Values[4] = features.Vector([]float32{1, 2})
		empty := ProfileRow("", now, 1, 1)
		few := ProfileRow("few", now, 1, 1)
		few.Values = few.Values[:2]
		for _, tc := range []struct {
			name string
			view string
			bad  features.Row
			want error
		}{
			{"NaN", "profile", nan, features.ErrInvalidValue},
			{"infinite", "profile", inf, features.ErrInvalidValue},
			{"wrong type", "profile", wrong, features.ErrWrongType},
			{"vector length", "profile", short, features.ErrInvalidValue},
			{"empty entity", "profile", empty, features.ErrEmptyEntityKey},
			{"too few values", "profile", few, features.ErrWrongType},
			{"unknown view", "nope", good, features.ErrUnknownView},
		} {
			_, err := s.Write(ctx, tc.view, []features.Row{good, tc.bad})
			if !errors.Is(err, tc.want) {
				t.Errorf("Write(%s) = %v, want %v", tc.name, err, tc.want)
			}
		}
		if st := read(t, s, "profile", []string{"age"}, "ok").Get(0, 0).Status; st != features.Missing {
			t.Errorf("the good row before a bad one was written (status %v); a rejected batch must write nothing", st)
		}
		_, err := s.Read(ctx, features.ReadRequest{At: now, Views: []features.ViewRequest{{View: "profile", Features: []string{"nope"}, Entities: []string{"ok"}}}})
		if !errors.Is(err, features.ErrUnknownFeature) {
			t.Errorf("Read(unknown feature) = %v, want ErrUnknownFeature", err)
		}
		_, err = s.Read(ctx, features.ReadRequest{At: now, Views: []features.ViewRequest{{View: "profile", Entities: []string{""}}}})
		if !errors.Is(err, features.ErrEmptyEntityKey) {
			t.Errorf("Read(empty entity) = %v, want ErrEmptyEntityKey", err)
		}
		_, err = s.Read(ctx, features.ReadRequest{At: now, Views: []features.ViewRequest{{View: "ghost", Entities: []string{"x"}}}})
		if !errors.Is(err, features.ErrUnknownView) {
			t.Errorf("Read(unknown view) = %v, want ErrUnknownView", err)
		}
	})

	t.Run("delete forgets an entity and only it", func(t *testing.T) {
		s := newStore(t, reg)
		write(t, s, "profile", ProfileRow("gone", now.Add(-time.Minute), 1, 40), ProfileRow("kept", now.Add(-time.Minute), 2, 41))
		n, err := s.Delete(ctx, "profile", []string{"gone", "never-written"})
		if err != nil || n != 1 {
			t.Fatalf("Delete(gone, never-written) = %d, %v, want 1, nil", n, err)
		}
		got := read(t, s, "profile", []string{"age"}, "gone", "kept")
		if st := got.Get(0, 0).Status; st != features.Missing {
			t.Errorf("Read(gone) after Delete = %v, want MISSING", st)
		}
		if fv := got.Get(1, 0); fv.Status != features.Present || !fv.Value.Equal(features.Int(41)) {
			t.Errorf("Read(kept) after deleting another = %v %v, want PRESENT 41", fv.Status, fv.Value)
		}
		// A deleted entity starts over: an older row than the deleted one lands again.
		if st := write(t, s, "profile", ProfileRow("gone", now.Add(-2*time.Minute), 0, 39)); st.Applied != 1 {
			t.Errorf("Write after Delete = %+v, want 1 applied", st)
		}
		if _, err := s.Delete(ctx, "ghost", []string{"x"}); !errors.Is(err, features.ErrUnknownView) {
			t.Errorf("Delete(unknown view) = %v, want ErrUnknownView", err)
		}
		if _, err := s.Delete(ctx, "profile", []string{""}); !errors.Is(err, features.ErrEmptyEntityKey) {
			t.Errorf("Delete(empty entity) = %v, want ErrEmptyEntityKey", err)
		}
	})
}

func spendValues(i int64) []features.Value {
	return []features.Value{
		features.Int(i), features.Float(float64(i) + 0.5), features.Int(i), features.Null(), features.Int(i), features.Float(1.25),
	}
}
