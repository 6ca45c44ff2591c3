// Package decision turns fraud scores into approve, review or decline: thresholds chosen on
// validation data for a review budget (cards investigators can check per day) and a target
// recall, and the rules that decide while the model path is down.
package decision

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
)

// Action is what happens to a transaction.
type Action string

// The three actions.
const (
	Approve Action = "approve"
	Review  Action = "review"
	Decline Action = "decline"
)

// Path says what produced a decision.
const (
	PathModel = "model" // the served model's score against Thresholds
	PathRules = "rules" // the fallback rules: the model path failed
)

// Decision is the outcome for one transaction.
type Decision struct {
	TransactionID int64   `json:"transaction_id"`
	Action        Action  `json:"action"`
	Score         float64 `json:"score"`
	ModelVersion  int     `json:"model_version"`
	Path          string  `json:"path"`
	// ServingPath is the serving layer's path (primary, last-good, heuristic, default)
	// when Path is model.
	ServingPath string `json:"serving_path,omitempty"`
	Reason      string `json:"reason,omitempty"`
}

// Thresholds map a score to an action: ≥ Decline declines, ≥ Review goes to an
// investigator, anything lower is approved.
type Thresholds struct {
	Review  float64 `json:"review"`
	Decline float64 `json:"decline"` // +Inf when no score qualifies (JSON null)
	// What the validation data said about them.
	ReviewsPerDay    float64 `json:"flagged_cards_per_day"` // mean cards per day at or above Review (reviewed or declined)
	Recall           float64 `json:"recall"`                // share of fraudulent transactions at or above Review
	DeclinePrecision float64 `json:"decline_precision"`     // share of fraud among transactions at or above Decline
	RecallTargetMet  bool    `json:"recall_target_met"`
}

// MarshalJSON writes an infinite Decline (nothing is declined) as null.
func (t Thresholds) MarshalJSON() ([]byte, error) {
	type plain Thresholds
	v := struct {
		plain
		Decline *float64 `json:"decline"`
	}{plain: plain(t)}
	if !math.IsInf(t.Decline, 0) {
		v.Decline = &t.Decline
	}
	return json.Marshal(v)
}

// Decide applies the thresholds.
func (t Thresholds) Decide(score float64) Action {
	switch {
	case score >= t.Decline:
		return Decline
	case score >= t.Review:
		return Review
	}
	return Approve
}

// Policy is what the thresholds are chosen for.
type Policy struct {
	// ReviewBudget is how many cards investigators can check per day.
	ReviewBudget int `json:"review_budget_cards_per_day"`
	// TargetRecall is the share of fraudulent transactions to send to review or decline.
	TargetRecall float64 `json:"target_recall"`
	// DeclinePrecision: transactions are declined without review only where validation
	// precision is at least this.
	DeclinePrecision float64 `json:"decline_precision"`
	// MinDeclineSupport is the least number of validation transactions above the decline
	// threshold for its precision to be trusted.
	MinDeclineSupport int `json:"min_decline_support"`
}

// DefaultPolicy is the handbook's 100 cards a day, a recall target of 0.8 and automatic
// decline only where 95% of validation transactions were fraud.
func DefaultPolicy() Policy {
	return Policy{ReviewBudget: 100, TargetRecall: 0.8, DeclinePrecision: 0.95, MinDeclineSupport: 20}
}

// Validate names the first bad field.
func (p Policy) Validate() error {
	switch {
	case p.ReviewBudget < 1:
		return fmt.Errorf("decision policy: review budget %d < 1", p.ReviewBudget)
	case !(p.TargetRecall > 0 && p.TargetRecall <= 1):
		return fmt.Errorf("decision policy: target recall %v not in (0, 1]", p.TargetRecall)
	case !(p.DeclinePrecision > 0 && p.DeclinePrecision <= 1):
		return fmt.Errorf("decision policy: decline precision %v not in (0, 1]", p.DeclinePrecision)
	case p.MinDeclineSupport < 1:
		return fmt.Errorf("decision policy: decline support %d < 1", p.MinDeclineSupport)
	}
	return nil
}

// Scored is one validation transaction.
type Scored struct {
	Day, Card int
	Score     float64
	Fraud     bool
}

// ErrNoData says the validation set cannot support a choice.
var ErrNoData = errors.New("validation set has no fraud or no days")

// Choose picks thresholds on validation transactions. The review threshold is the highest
// score that reaches TargetRecall if that keeps the mean daily reviewed cards within the
// budget; otherwise the budget binds — the threshold at which the days' reviewed cards
// average ReviewBudget — and RecallTargetMet is false: investigators' time is the hard
// limit, the recall shortfall is reported, not hidden. The decline threshold is the lowest
// score above which validation precision is at least DeclinePrecision with at least
// MinDeclineSupport transactions, and never below the review threshold; +Inf if none.
func Choose(val []Scored, p Policy) (Thresholds, error) {
	if err := p.Validate(); err != nil {
		return Thresholds{}, err
	}
	days := map[int]bool{}
	frauds := 0
	for _, s := range val {
		days[s.Day] = true
		if s.Fraud {
			frauds++
		}
	}
	if frauds == 0 || len(days) == 0 {
		return Thresholds{}, ErrNoData
	}
	byScore := slices.Clone(val)
	slices.SortFunc(byScore, func(a, b Scored) int { return cmp.Compare(b.Score, a.Score) })

	// Recall threshold: walk down until the target share of frauds is above.
	need := int(math.Ceil(p.TargetRecall * float64(frauds)))
	var recallT float64
	seen := 0
	for _, s := range byScore {
		if s.Fraud {
			seen++
		}
		if seen >= need {
			recallT = s.Score
			break
		}
	}
	// Budget threshold: the (budget × days)-th highest card-day score.
	cardDay := map[[2]int]float64{}
	for _, s := range val {
		k := [2]int{s.Day, s.Card}
		if v, ok := cardDay[k]; !ok || s.Score > v {
			cardDay[k] = s.Score
		}
	}
	cards := make([]float64, 0, len(cardDay))
	for _, v := range cardDay {
		cards = append(cards, v)
	}
	slices.Sort(cards)
	slices.Reverse(cards)
	budgetT := math.Inf(-1)
	if n := p.ReviewBudget * len(days); n < len(cards) {
		// Strictly above the first card past the budget keeps the mean within it.
		budgetT = math.Nextafter(cards[n], math.Inf(1))
	}
	t := Thresholds{Review: max(recallT, budgetT)}
	t.RecallTargetMet = recallT >= budgetT

	// Decline: the lowest score with precision ≥ target above it (prefix of byScore).
	t.Decline = math.Inf(1)
	tp := 0
	for i, s := range byScore {
		if s.Fraud {
			tp++
		}
		last := i+1 == len(byScore) || byScore[i+1].Score != s.Score
		if last && i+1 >= p.MinDeclineSupport && float64(tp)/float64(i+1) >= p.DeclinePrecision && s.Score >= t.Review {
			t.Decline, t.DeclinePrecision = s.Score, float64(tp)/float64(i+1)
		}
	}
	// Describe the choice on the validation data.
	above, reviewed := 0, 0
	for _, s := range val {
		if s.Fraud && s.Score >= t.Review {
			above++
		}
	}
	for _, v := range cards {
		if v >= t.Review {
			reviewed++
		}
	}
	t.Recall = float64(above) / float64(frauds)
	t.ReviewsPerDay = float64(reviewed) / float64(len(days))
	return t, nil
}
