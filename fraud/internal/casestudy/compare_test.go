package casestudy

import (
	"context"
	"strings"
	"testing"

	"github.com/casebook-ml/casebook/fraud/internal/eval"
	"github.com/casebook-ml/casebook/fraud/internal/txfeatures"
	"github.com/casebook-ml/casebook/fraud/sim"
)

// TestCompareSameTransactions: the comparison measures the stream's scores and the batch
// protocol's on exactly the test transactions the stream decided by its model. Given the
// batch model's own scores as the stream's, both rows agree to the last digit; the
// transactions decided by rules or not at all are counted apart and left out of both.
func TestCompareSameTransactions(t *testing.T) {
	ctx := context.Background()
	sc := sim.DefaultConfig()
	sc.Customers, sc.Terminals, sc.Days = 300, 600, 40
	d, err := sim.Generate(ctx, sc)
	if err != nil {
		t.Fatal(err)
	}
	x, err := Featurize(d.Transactions)
	if err != nil {
		t.Fatal(err)
	}
	tab := eval.NewTable(d.Transactions, x, txfeatures.Names)
	pc := eval.DefaultConfig()
	pc.Folds = 0
	rep, err := eval.Run(ctx, tab, eval.DefaultCandidates()[:1], pc)
	if err != nil {
		t.Fatal(err)
	}
	m := rep.Models[0]
	decided := map[int64]streamDecision{}
	rules, undecided := 0, 0
	for i, r := range m.TestResult.Rows {
		id := tab.Txs[r].ID
		switch {
		case i%17 == 3:
			decided[id] = streamDecision{model: false}
			rules++
		case i%23 == 5:
			undecided++
		default:
			decided[id] = streamDecision{score: m.TestResult.Scores[i], version: 4, model: true}
		}
	}
	c, err := compare(tab, rep, decided)
	if err != nil {
		t.Fatal(err)
	}
	n := len(m.TestResult.Rows)
	if c.TestRows != n || c.Rules != rules || c.Undecided != undecided || c.Compared != n-rules-undecided {
		t.Errorf("compare counts test %d, rules %d, undecided %d, compared %d; want %d, %d, %d, %d", c.TestRows, c.Rules, c.Undecided, c.Compared, n, rules, undecided, n-rules-undecided)
	}
	if len(c.Rows) != 2 || c.Rows[0].Name != "stream" || c.Rows[1].Name != m.Name || !strings.Contains(c.Rows[0].Comment, "[4]") {
		t.Fatalf("rows %+v, want the stream's (version 4) then %s's", c.Rows, m.Name)
	}
	s, b := c.Rows[0], c.Rows[1]
	if s.AUC != b.AUC || s.AP != b.AP || s.MeanCP != b.MeanCP {
		t.Errorf("stream %+v and batch %+v differ on the same scores", s, b)
	}
	// On all the test rows the batch row would differ: the subset matters.
	if all := m.TestResult; all.AUC == b.AUC && all.AP == b.AP {
		t.Errorf("batch row on the compared subset equals the whole test set's (AUC %v, AP %v): the subset was not applied", all.AUC, all.AP)
	}
	if _, err := compare(tab, rep, map[int64]streamDecision{}); err == nil || !strings.Contains(err.Error(), "decided none") {
		t.Errorf("compare with no decisions = %v, want an error saying the stream decided none", err)
	}
}
