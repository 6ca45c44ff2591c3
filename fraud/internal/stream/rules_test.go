package stream

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/fraud/events"
	"github.com/casebook-ml/casebook/fraud/internal/decision"
	"github.com/casebook-ml/casebook/fraud/internal/txfeatures"
	"github.com/casebook-ml/casebook/fraud/sim"
	"github.com/casebook-ml/casebook/platform/features"
	"github.com/casebook-ml/casebook/platform/features/memory"
)

// downModel is a model path that always fails, so every decision comes from the rules.
type downModel struct{}

func (downModel) ScoreBatch(context.Context, []string, []time.Time, []float64, []float64) (int, string, error) {
	return 0, "", errors.New("model down")
}

// TestRulesReadFeaturesByName: the rules read the card's 1-day count by name, so views that
// list their features in another order (here reversed) still give the rules the count and
// not whatever now sits at its old position (the 30-day average amount).
func TestRulesReadFeaturesByName(t *testing.T) {
	for _, reorder := range []bool{false, true} {
		reg := features.NewRegistry()
		c, term := txfeatures.Views(time.Hour)
		if reorder {
			slices.Reverse(c.Aggregations)
			slices.Reverse(term.Aggregations)
		}
		for _, v := range []features.FeatureView{c, term} {
			if err := reg.RegisterView(v); err != nil {
				t.Fatal(err)
			}
		}
		// Eleven transactions of card 1 within an hour, 20.00 each, then the twelfth is decided.
		t0 := time.Date(2018, 5, 1, 12, 0, 0, 0, time.UTC)
		var txs []sim.Transaction
		for i := range 12 {
			at := t0.Add(time.Duration(i) * time.Minute)
			txs = append(txs, sim.Transaction{ID: int64(i), Time: at, Customer: 1, Terminal: 100 + i, Amount: 20, Seconds: at.Unix(), Day: 30})
		}
		history, err := events.Replay(txs[:11], 7*24*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		stats := &Stats{}
		s, err := NewScorer(context.Background(), ScorerConfig{Features: reg, Store: memory.New(reg), Model: downModel{},
			Thresholds: decision.Thresholds{Review: 0.5, Decline: 0.9}, Rules: decision.DefaultRules(), Stats: stats, History: history})
		if err != nil {
			t.Fatal(err)
		}
		d := s.Decide(context.Background(), txs[11])
		if d.Path != decision.PathRules || d.Action != decision.Review || !strings.HasPrefix(d.Reason, "card made 12 transactions in a day") {
			t.Errorf("reordered views %v: Decide = %s %s (%s), want review by the rules: card made 12 transactions in a day", reorder, d.Path, d.Action, d.Reason)
		}
	}
}

func TestRuleInputsNeedTheirFeatures(t *testing.T) {
	names := slices.DeleteFunc(slices.Clone(txfeatures.Names), func(n string) bool { return n == "TERMINAL_ID_RISK_7DAY_WINDOW" })
	if _, err := ruleInputsOf(names); err == nil {
		t.Error("ruleInputsOf accepted a vector without TERMINAL_ID_RISK_7DAY_WINDOW")
	}
	at, err := ruleInputsOf(txfeatures.Names)
	if err != nil {
		t.Fatal(err)
	}
	if at != (ruleInputs{customerTx1d: 3, terminalTx7d: 11, terminalRisk7d: 12}) {
		t.Errorf("ruleInputsOf(Names) = %+v, want the handbook's positions 3, 11, 12", at)
	}
}

// The vector's schema, for the views as registered, is the handbook's Names.
func TestOnlineNames(t *testing.T) {
	reg := features.NewRegistry()
	if err := txfeatures.Register(reg, time.Hour); err != nil {
		t.Fatal(err)
	}
	on, err := txfeatures.NewOnline(reg, memory.New(reg), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := on.Names(); !slices.Equal(got, txfeatures.Names) {
		t.Errorf("Online.Names() = %v, want %v", got, txfeatures.Names)
	}
}

// TestStoreOutageLogged: the scorer says when the online store goes down (once, not per
// transaction) and when it is back.
func TestStoreOutageLogged(t *testing.T) {
	reg := features.NewRegistry()
	if err := txfeatures.Register(reg, time.Hour); err != nil {
		t.Fatal(err)
	}
	store := &features.Switchable{OnlineStore: memory.New(reg)}
	var logs bytes.Buffer
	s, err := NewScorer(context.Background(), ScorerConfig{Features: reg, Store: store, Model: downModel{},
		Rules: decision.DefaultRules(), Stats: &Stats{}, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2018, 5, 1, 12, 0, 0, 0, time.UTC)
	for i, down := range []bool{false, true, true, true, false, false} {
		store.Down.Store(down)
		at := t0.Add(time.Duration(i) * time.Minute)
		s.Decide(context.Background(), sim.Transaction{ID: int64(i), Time: at, Customer: 1, Terminal: 2, Amount: 10, Seconds: at.Unix(), Day: 30})
	}
	got := logs.String()
	if strings.Count(got, "online store down") != 1 || strings.Count(got, "online store back") != 1 {
		t.Errorf("logs = %q, want one line for the store going down and one for its return", got)
	}
}
