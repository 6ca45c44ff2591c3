package decision

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

// val makes days of cards: each day n cards with scores spread in (0, 1); fraud when the
// score is above fraudAbove, plus one low-scored fraud a day the model misses.
func val(days, n int, fraudAbove float64) []Scored {
	var out []Scored
	for d := range days {
		for c := range n {
			s := float64(c+1) / float64(n+1)
			out = append(out, Scored{Day: d, Card: c, Score: s, Fraud: s > fraudAbove})
		}
		out = append(out, Scored{Day: d, Card: n, Score: 0.001, Fraud: true})
	}
	return out
}

func TestChoose(t *testing.T) {
	for _, tc := range []struct {
		name       string
		val        []Scored
		p          Policy
		met        bool
		maxReviews float64
		minRecall  float64
	}{
		// 1000 cards a day, the top 50 fraud (+1 missed): recall 0.8 needs ~41 cards, within 100.
		{"recall within budget", val(5, 1000, 0.95), Policy{ReviewBudget: 100, TargetRecall: 0.8, DeclinePrecision: 0.95, MinDeclineSupport: 5}, true, 100, 0.8},
		// The top 300 are fraud: recall 0.8 needs ~241 cards a day; the budget of 100 binds.
		{"budget binds", val(5, 1000, 0.7), Policy{ReviewBudget: 100, TargetRecall: 0.8, DeclinePrecision: 0.95, MinDeclineSupport: 5}, false, 100, 0.3},
	} {
		th, err := Choose(tc.val, tc.p)
		if err != nil {
			t.Fatalf("%s: Choose = %v", tc.name, err)
		}
		if th.RecallTargetMet != tc.met || th.ReviewsPerDay > tc.maxReviews || th.Recall < tc.minRecall {
			t.Errorf("%s: Choose = %+v, want target met %v, ≤ %v reviews a day, recall ≥ %v", tc.name, th, tc.met, tc.maxReviews, tc.minRecall)
		}
		if th.Decline < th.Review || (!math.IsInf(th.Decline, 1) && th.DeclinePrecision < tc.p.DeclinePrecision) {
			t.Errorf("%s: decline %v (precision %v) below review %v or under target", tc.name, th.Decline, th.DeclinePrecision, th.Review)
		}
	}
	if _, err := Choose([]Scored{{Score: 0.5}}, DefaultPolicy()); err == nil {
		t.Errorf("Choose(no fraud) = nil error, want ErrNoData")
	}
}

func TestThresholdsDecide(t *testing.T) {
	th := Thresholds{Review: 0.3, Decline: 0.9}
	for _, tc := range []struct {
		score float64
		want  Action
	}{{0.1, Approve}, {0.3, Review}, {0.89, Review}, {0.9, Decline}, {1, Decline}} {
		if got := th.Decide(tc.score); got != tc.want {
			t.Errorf("Decide(%v) = %v, want %v", tc.score, got, tc.want)
		}
	}
}

func TestRules(t *testing.T) {
	r := DefaultRules()
	for _, tc := range []struct {
		f    Features
		want Action
	}{
		{Features{Amount: 500}, Decline},
		{Features{Amount: 200}, Review},
		{Features{Amount: 50}, Approve},
		{Features{Amount: 50, HaveFeatures: true, TerminalNbTx7d: 10, TerminalRisk7d: 0.5}, Review},
		{Features{Amount: 50, HaveFeatures: true, TerminalNbTx7d: 0, TerminalRisk7d: 0}, Approve},
		{Features{Amount: 50, HaveFeatures: true, CustomerNbTx1d: 12}, Review},
	} {
		if got, why := r.Decide(tc.f); got != tc.want {
			t.Errorf("Decide(%+v) = %v (%s), want %v", tc.f, got, why, tc.want)
		}
	}
}

func TestThresholdsJSON(t *testing.T) {
	for _, tc := range []struct {
		th   Thresholds
		want string
	}{
		{Thresholds{Review: 0.5, Decline: math.Inf(1)}, `"decline":null`},
		{Thresholds{Review: 0.5, Decline: 0.9}, `"decline":0.9`},
	} {
		b, err := json.Marshal(tc.th)
		if err != nil || !strings.Contains(string(b), tc.want) || strings.Count(string(b), `"decline"`) != 1 {
			t.Errorf("json.Marshal(%+v) = %s, %v; want one %s", tc.th, b, err, tc.want)
		}
	}
}
