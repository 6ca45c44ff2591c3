// Package eval runs the handbook's evaluation protocol (chapters 3.5, 4 and 5) on a
// transaction table: train on 7 days, skip a 7-day delay during which labels are not yet
// known, test on the next 7 days without the cards already known to be compromised, and
// measure ROC AUC, average precision and card precision@100; prequential folds shifted back
// in time choose between candidate models.
package eval

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"github.com/casebook-ml/casebook/fraud/sim"
	"github.com/casebook-ml/casebook/platform/ml"
)

// Split is one train/delay/test block in TX_TIME_DAYS.
type Split struct {
	TrainStart, TrainDays, DelayDays, TestDays int
}

// TestStart is the first test day.
func (s Split) TestStart() int { return s.TrainStart + s.TrainDays + s.DelayDays }

// Shift returns the block moved by days (negative: earlier).
func (s Split) Shift(days int) Split { s.TrainStart += days; return s }

// Table is a featurized transaction table: txs in time order and their n×width matrix.
type Table struct {
	Txs    []sim.Transaction
	X      []float64
	Schema ml.Schema
	byDay  map[int][]int
}

// NewTable indexes txs (in time order) and their features x by day.
func NewTable(txs []sim.Transaction, x []float64, names []string) *Table {
	t := &Table{Txs: txs, X: x, Schema: ml.FloatSchema(names...), byDay: map[int][]int{}}
	for i, tx := range txs {
		t.byDay[tx.Day] = append(t.byDay[tx.Day], i)
	}
	return t
}

// Days returns the first and last TX_TIME_DAYS present.
func (t *Table) Days() (first, last int) {
	first, last = math.MaxInt, math.MinInt
	for d := range t.byDay {
		first, last = min(first, d), max(last, d)
	}
	return first, last
}

// Rows returns the row indexes of days [from, from+n).
func (t *Table) Rows(from, n int) []int {
	var out []int
	for d := from; d < from+n; d++ {
		out = append(out, t.byDay[d]...)
	}
	return out
}

// Dataset returns the rows as an ml.Dataset with TX_FRAUD as the label.
func (t *Table) Dataset(rows []int) ml.Dataset {
	w := t.Schema.Len()
	d := ml.Dataset{Schema: t.Schema, X: make([]float64, 0, len(rows)*w), Y: make([]float64, len(rows))}
	for i, r := range rows {
		d.X = append(d.X, t.X[r*w:(r+1)*w]...)
		if t.Txs[r].Fraud {
			d.Y[i] = 1
		}
	}
	return d
}

// TestDays returns, per test day, the rows to score: that day's transactions minus those of
// customers known to be compromised, as the handbook's get_train_test_set does. Known are
// the customers with a fraud in the training days, and, for test day k, those with a fraud
// on day TrainStart+TrainDays+k-1 (labels known once the delay has passed).
func (t *Table) TestDays(s Split) [][]int {
	known := map[int]bool{}
	for _, r := range t.Rows(s.TrainStart, s.TrainDays) {
		if t.Txs[r].Fraud {
			known[t.Txs[r].Customer] = true
		}
	}
	out := make([][]int, s.TestDays)
	for k := range s.TestDays {
		for _, r := range t.byDay[s.TrainStart+s.TrainDays+k-1] {
			if t.Txs[r].Fraud {
				known[t.Txs[r].Customer] = true
			}
		}
		for _, r := range t.byDay[s.TestStart()+k] {
			if !known[t.Txs[r].Customer] {
				out[k] = append(out[k], r)
			}
		}
	}
	return out
}

// DayPrecision is card precision@k on one day.
type DayPrecision struct {
	Day       int
	Cards     int     // cards scored that day
	Precision float64 // fraudulent cards among the top k, / k
	// BoundaryTie: the k-th and (k+1)-th cards share a score, so which cards are in the top
	// k, and possibly the precision, depends on how ties are ordered (here: by card id).
	BoundaryTie bool
}

// CardPrecisionAtK follows the handbook's card_precision_top_k: each day, a card's score is
// its highest transaction score and it is fraudulent if any of its transactions is; cards
// are ranked by score (ties by card id, ascending), the top k counted. Cards found
// fraudulent in an earlier day's top k are removed from later days.
func CardPrecisionAtK(t *Table, days [][]int, scores map[int]float64, k int) []DayPrecision {
	detected := map[int]bool{}
	out := make([]DayPrecision, len(days))
	for di, rows := range days {
		type card struct {
			id    int
			score float64
			fraud bool
		}
		byCard := map[int]*card{}
		for _, r := range rows {
			tx := t.Txs[r]
			if detected[tx.Customer] {
				continue
			}
			c := byCard[tx.Customer]
			if c == nil {
				c = &card{id: tx.Customer, score: math.Inf(-1)}
				byCard[tx.Customer] = c
			}
			c.score = max(c.score, scores[r])
			c.fraud = c.fraud || tx.Fraud
		}
		cards := make([]*card, 0, len(byCard))
		for _, c := range byCard {
			cards = append(cards, c)
		}
		slices.SortFunc(cards, func(a, b *card) int {
			if c := cmp.Compare(b.score, a.score); c != 0 {
				return c
			}
			return cmp.Compare(a.id, b.id)
		})
		dp := DayPrecision{Cards: len(cards)}
		if len(rows) > 0 {
			dp.Day = t.Txs[rows[0]].Day
		}
		n := 0
		for i := 0; i < k && i < len(cards); i++ {
			if cards[i].fraud {
				n++
				detected[cards[i].id] = true
			}
		}
		dp.Precision = float64(n) / float64(k)
		dp.BoundaryTie = len(cards) > k && cards[k-1].score == cards[k].score
		out[di] = dp
	}
	return out
}

// Result holds a model's metrics on one split.
type Result struct {
	AUC, AP       float64
	CardPrecision []DayPrecision
	MeanCP        float64
	// TiedShare is the fraction of test transactions whose score another one shares.
	TiedShare float64
	// Rows and Scores are the test transactions scored (after removing known cards).
	Rows   []int
	Scores []float64
}

// Score computes the metrics of predictions scores (by row index) on the split's test days.
func Score(t *Table, days [][]int, scores map[int]float64, k int) Result {
	var res Result
	var y, p []float64
	for _, rows := range days {
		for _, r := range rows {
			res.Rows = append(res.Rows, r)
			res.Scores = append(res.Scores, scores[r])
			p = append(p, scores[r])
			y = append(y, b2f(t.Txs[r].Fraud))
		}
	}
	res.AUC = ml.AUC(y, p)
	res.AP = ml.AveragePrecision(y, p)
	res.CardPrecision = CardPrecisionAtK(t, days, scores, k)
	for _, d := range res.CardPrecision {
		res.MeanCP += d.Precision
	}
	res.MeanCP /= float64(max(1, len(res.CardPrecision)))
	count := map[float64]int{}
	for _, v := range p {
		count[v]++
	}
	tied := 0
	for _, v := range p {
		if count[v] > 1 {
			tied++
		}
	}
	res.TiedShare = float64(tied) / float64(max(1, len(p)))
	return res
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Check reports why a split does not fit the table's days, or nil.
func (t *Table) Check(s Split) error {
	first, last := t.Days()
	if s.TrainStart < first || s.TestStart()+s.TestDays-1 > last {
		return fmt.Errorf("split train from day %d, test days %d-%d: data covers days %d-%d",
			s.TrainStart, s.TestStart(), s.TestStart()+s.TestDays-1, first, last)
	}
	return nil
}
