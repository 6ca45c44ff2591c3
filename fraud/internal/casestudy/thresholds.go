package casestudy

import (
	"fmt"

	"github.com/casebook-ml/casebook/fraud/internal/decision"
	"github.com/casebook-ml/casebook/fraud/internal/eval"
)

// ThresholdReport is the decision thresholds chosen on validation and what they did on
// the test days.
type ThresholdReport struct {
	Model      string              `json:"model"`
	Policy     decision.Policy     `json:"policy"`
	Thresholds decision.Thresholds `json:"thresholds"`
	// On the test days (after known-card removal):
	TestReviewsPerDay    float64 `json:"test_flagged_cards_per_day"`
	TestRecall           float64 `json:"test_recall"`
	TestDeclines         int     `json:"test_declines"`
	TestDeclinePrecision float64 `json:"test_decline_precision"`
}

func scored(t *eval.Table, r eval.Result) []decision.Scored {
	out := make([]decision.Scored, len(r.Rows))
	for i, row := range r.Rows {
		tx := t.Txs[row]
		out[i] = decision.Scored{Day: tx.Day, Card: tx.Customer, Score: r.Scores[i], Fraud: tx.Fraud}
	}
	return out
}

// Thresholds chooses the selected model's thresholds on its newest prequential fold (the
// validation block just before the final test) and measures them on the test days.
func Thresholds(t *eval.Table, rep *eval.Report, p decision.Policy) (*ThresholdReport, error) {
	for _, m := range rep.Models {
		if m.Name != rep.Selected {
			continue
		}
		if len(m.FoldResults) == 0 {
			return nil, fmt.Errorf("thresholds: no validation fold to choose them on")
		}
		th, err := decision.Choose(scored(t, m.FoldResults[0]), p)
		if err != nil {
			return nil, fmt.Errorf("thresholds: %w", err)
		}
		tr := &ThresholdReport{Model: m.Name, Policy: p, Thresholds: th}
		test := scored(t, m.TestResult)
		days := map[int]bool{}
		flagged := map[[2]int]bool{}
		frauds, caught, tp := 0, 0, 0
		for _, s := range test {
			days[s.Day] = true
			a := th.Decide(s.Score)
			if a != decision.Approve {
				flagged[[2]int{s.Day, s.Card}] = true
			}
			if s.Fraud {
				frauds++
				if a != decision.Approve {
					caught++
				}
			}
			if a == decision.Decline {
				tr.TestDeclines++
				if s.Fraud {
					tp++
				}
			}
		}
		tr.TestReviewsPerDay = float64(len(flagged)) / float64(max(1, len(days)))
		tr.TestRecall = float64(caught) / float64(max(1, frauds))
		if tr.TestDeclines > 0 {
			tr.TestDeclinePrecision = float64(tp) / float64(tr.TestDeclines)
		}
		return tr, nil
	}
	return nil, fmt.Errorf("thresholds: selected model %q not in the report", rep.Selected)
}
