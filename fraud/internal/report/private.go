package report

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"

	"github.com/casebook-ml/casebook/platform/privacy/dp"
)

// The report's private queries, in the order they are charged to its ledger. Each is one
// column over the event days, which are disjoint (a transaction happened on one day), so
// each is charged once however many days it covers (dp.Releaser.Counts, .Sums).
const (
	QueryTransactions  = "transactions per day"
	QueryFrauds        = "frauds per day"
	QueryFlagged       = "flagged per day"
	QueryTruePositives = "frauds flagged per day"
	QueryPaths         = "decisions per day and path"
	QueryAmount        = "amount per day"
)

// Queries lists the private queries in the order Privatize charges them.
var Queries = []string{QueryTransactions, QueryFrauds, QueryFlagged, QueryTruePositives, QueryPaths, QueryAmount}

// Privacy configures a differentially private release of the report: its per-day counts and
// sums are released through a dp.Releaser whose ledger holds Budget for this one report.
type Privacy struct {
	// Dataset names the report's ledger (one ledger per report).
	Dataset string
	// Budget is the total ε of the ledger (Laplace, δ = 0, basic composition across queries).
	Budget float64
	// QueryEpsilon is the ε each query asks for; 0 splits Budget evenly over Queries. A
	// report asking for more than Budget in total gets its later queries refused.
	QueryEpsilon float64
	// AmountCap is the public bound on one transaction's amount: amounts are clamped into
	// [0, AmountCap] before summing, which bounds the sum's sensitivity. It must be chosen
	// without looking at the data.
	AmountCap float64
}

// PrivacyInfo is what the report says about its release: the budget, what each query
// spent and its noise scale, which were refused and the ledger's record.
type PrivacyInfo struct {
	Dataset   string
	Mechanism dp.Mechanism
	Budget    dp.Budget
	Spent     dp.Budget
	AmountCap float64
	Queries   []QueryInfo
	// Record is the ledger's JSON record, embedded in the page.
	Record json.RawMessage
}

// QueryInfo is one query of the release.
type QueryInfo struct {
	Name    string
	Epsilon float64
	// Scale is the Laplace b of each released value; E|error| = b before rounding.
	Scale float64
	// Refused holds the ledger's refusal when the query was turned away, else "".
	Refused string
}

// Refused reports whether query was refused.
func (p *PrivacyInfo) Refused(query string) bool {
	if p == nil {
		return false
	}
	for _, q := range p.Queries {
		if q.Name == query {
			return q.Refused != ""
		}
	}
	return false
}

// Privatize returns d with its per-day counts and sums replaced by noisy releases through a
// fresh ledger for the report, and everything derived from them (precision, recall, totals
// by path) recomputed from the noisy values only. Released values are rounded and clamped
// to be non-negative, and frauds flagged is capped by flagged and by frauds: post-
// processing, which spends nothing. The per-transaction score lists are withheld (nothing
// releases them privately) and the caller's Summary is dropped: build it again from the
// result. Latency is system timing, not customer data, and is kept. The privacy unit is
// one transaction (event-level DP): a customer with transactions on several days is
// protected per transaction, not as a whole.
func Privatize(d Data, p Privacy, noise *dp.Noise) (Data, error) {
	if noise == nil {
		return Data{}, errors.New("fraud report: Privatize needs a noise source")
	}
	if !(p.AmountCap > 0) || math.IsInf(p.AmountCap, 0) {
		return Data{}, fmt.Errorf("fraud report: amount cap %v, want a finite positive public bound", p.AmountCap)
	}
	ledger, err := dp.NewLedger(p.Dataset, dp.Budget{Epsilon: p.Budget})
	if err != nil {
		return Data{}, fmt.Errorf("fraud report: %w", err)
	}
	qe := p.QueryEpsilon
	if qe == 0 {
		qe = p.Budget / float64(len(Queries))
	}
	q := dp.Query{Mechanism: dp.Laplace, Epsilon: qe}
	rel := dp.NewReleaser(ledger, noise)
	info := &PrivacyInfo{Dataset: p.Dataset, Mechanism: dp.Laplace, Budget: dp.Budget{Epsilon: p.Budget}, AmountCap: p.AmountCap}

	days := make([]Day, len(d.Daily))
	for i, src := range d.Daily {
		days[i] = Day{Date: src.Date, Paths: map[string]int{}}
	}
	col := func(get func(Day) int) []int {
		ns := make([]int, len(d.Daily))
		for i, x := range d.Daily {
			ns[i] = get(x)
		}
		return ns
	}
	// record charges one query and keeps its outcome; a refusal is kept, not returned.
	record := func(name string, scale float64, err error) (bool, error) {
		qi := QueryInfo{Name: name, Epsilon: qe, Scale: scale}
		if errors.Is(err, dp.ErrBudgetExceeded) {
			qi.Refused, qi.Scale = err.Error(), 0
			info.Queries = append(info.Queries, qi)
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("fraud report: %s: %w", name, err)
		}
		info.Queries = append(info.Queries, qi)
		return true, nil
	}
	counts := []struct {
		name string
		get  func(Day) int
		set  func(*Day, int)
	}{
		{QueryTransactions, func(x Day) int { return x.Transactions }, func(x *Day, v int) { x.Transactions = v }},
		{QueryFrauds, func(x Day) int { return x.Frauds }, func(x *Day, v int) { x.Frauds = v }},
		{QueryFlagged, func(x Day) int { return x.Flagged }, func(x *Day, v int) { x.Flagged = v }},
		{QueryTruePositives, func(x Day) int { return x.TruePositives }, func(x *Day, v int) { x.TruePositives = v }},
	}
	for _, c := range counts {
		out, err := rel.Counts(c.name, col(c.get), q)
		ok, err := record(c.name, scaleOf(out), err)
		if err != nil {
			return Data{}, err
		}
		for i := range days {
			if ok {
				c.set(&days[i], nonNeg(out[i].Value))
			}
		}
	}
	if !info.Refused(QueryTruePositives) {
		for i := range days {
			tp := days[i].TruePositives
			if !info.Refused(QueryFlagged) {
				tp = min(tp, days[i].Flagged)
			}
			if !info.Refused(QueryFrauds) {
				tp = min(tp, days[i].Frauds)
			}
			days[i].TruePositives = tp
		}
	}

	// Paths: one cell per (day, path); the path names are the system's, not the data's.
	seen := map[string]bool{}
	for _, x := range d.Daily {
		for name := range x.Paths {
			seen[name] = true
		}
	}
	paths := slices.Sorted(maps.Keys(seen))
	var cells []int
	for _, x := range d.Daily {
		for _, name := range paths {
			cells = append(cells, x.Paths[name])
		}
	}
	var total map[string]int
	out, err := rel.Counts(QueryPaths, cells, q)
	ok, err := record(QueryPaths, scaleOf(out), err)
	if err != nil {
		return Data{}, err
	}
	if ok {
		total = map[string]int{}
		for i := range days {
			for j, name := range paths {
				v := nonNeg(out[i*len(paths)+j].Value)
				days[i].Paths[name] = v
				total[name] += v
			}
		}
	}

	groups := make([][]float64, len(d.Daily))
	for i, x := range d.Daily {
		groups[i] = x.Amounts
	}
	sums, err := rel.Sums(QueryAmount, groups, 0, p.AmountCap, q)
	ok, err = record(QueryAmount, scaleOf(sums), err)
	if err != nil {
		return Data{}, err
	}
	for i := range days {
		if ok {
			days[i].Amount = math.Max(0, math.Round(sums[i].Value))
		}
	}

	rec := ledger.Record()
	info.Spent = rec.Spent
	if info.Record, err = json.MarshalIndent(rec, "", "  "); err != nil {
		return Data{}, fmt.Errorf("fraud report: ledger record: %w", err)
	}
	out2 := d
	out2.Daily = days
	out2.Paths = total
	out2.Scores = Scores{}
	out2.Summary = nil
	out2.Privacy = info
	return out2, nil
}

func scaleOf(rs []dp.Release) float64 {
	if len(rs) == 0 {
		return 0
	}
	return rs[0].Scale
}

func nonNeg(v float64) int { return int(math.Max(0, math.Round(v))) }

// Totals adds up the days' released counts (post-processing of the noisy values when the
// days are private).
func Totals(days []Day) Day {
	var t Day
	for _, x := range days {
		t.Transactions += x.Transactions
		t.Frauds += x.Frauds
		t.Flagged += x.Flagged
		t.TruePositives += x.TruePositives
		t.Amount += x.Amount
	}
	return t
}
