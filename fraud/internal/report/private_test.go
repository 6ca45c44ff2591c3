package report

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/platform/privacy/dp"
)

// bigDays are n days of large, distinct true counts: transactions in the 40,000s, frauds
// in the 10,000s, flagged in the 20,000s, frauds flagged in the 5,000s, amounts of 100
// transactions of 37.5 each plus a tenth of the day's number.
func bigDays(n int) []Day {
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	days := make([]Day, n)
	for i := range days {
		am := make([]float64, 100)
		for j := range am {
			am[j] = 37.5 + 0.1*float64(i) // under the cap of 100: no clamping bias
		}
		days[i] = Day{
			Date:          start.Add(time.Duration(i) * 24 * time.Hour),
			Transactions:  40_000 + 131*i,
			Frauds:        10_000 + 127*i,
			Flagged:       20_000 + 113*i,
			TruePositives: 5_000 + 109*i,
			Paths:         map[string]int{"model": 36_000 + 103*i, "rules": 3_000 + 97*i},
			Amounts:       am,
		}
	}
	return days
}

func render(t *testing.T, d Data) string {
	t.Helper()
	var b bytes.Buffer
	if err := Write(&b, d); err != nil {
		t.Fatalf("Write() error %v", err)
	}
	return b.String()
}

func sum(xs []float64) float64 {
	var s float64
	for _, x := range xs {
		s += x
	}
	return s
}

// TestPrivatizeErrorMatchesScale: the released values differ from the true ones by noise
// of the Laplace scale b = Δ/ε_query. E|Laplace(b)| = b; over 300 days the mean absolute
// error lands well within ±20% of b (its standard error is 5.8% of b), while no noise, or
// noise of the wrong scale (b/2 or 2b), falls outside.
func TestPrivatizeErrorMatchesScale(t *testing.T) {
	truth := bigDays(300)
	const qe = 0.05 // b = 20 for a count; 100 × 0.05 = 2,000 for a sum clamped to [0, 100]
	in := Data{Daily: truth, Scores: Scores{Fraud: []float64{0.9}, Legit: []float64{0.1}}, Summary: []KV{{"transactions", "1"}}}
	got, err := Privatize(in, Privacy{Dataset: "test", Budget: 6 * qe, AmountCap: 100}, dp.NewSeededNoise(11))
	if err != nil {
		t.Fatalf("Privatize() error %v", err)
	}
	check := func(name string, b float64, tr, rel func(i int) float64) {
		t.Helper()
		var abs float64
		same := 0
		for i := range truth {
			e := math.Abs(rel(i) - tr(i))
			abs += e
			if e == 0 {
				same++
			}
		}
		m := abs / float64(len(truth))
		if m < 0.8*b || m > 1.2*b {
			t.Errorf("%s: mean |released − true| = %.2f, want within 20%% of b = %g", name, m, b)
		}
		if same > len(truth)/10 {
			t.Errorf("%s: %d of %d released values equal the true ones", name, same, len(truth))
		}
	}
	check("transactions", 20, func(i int) float64 { return float64(truth[i].Transactions) }, func(i int) float64 { return float64(got.Daily[i].Transactions) })
	check("frauds", 20, func(i int) float64 { return float64(truth[i].Frauds) }, func(i int) float64 { return float64(got.Daily[i].Frauds) })
	check("flagged", 20, func(i int) float64 { return float64(truth[i].Flagged) }, func(i int) float64 { return float64(got.Daily[i].Flagged) })
	check("frauds flagged", 20, func(i int) float64 { return float64(truth[i].TruePositives) }, func(i int) float64 { return float64(got.Daily[i].TruePositives) })
	check("rules path", 20, func(i int) float64 { return float64(truth[i].Paths["rules"]) }, func(i int) float64 { return float64(got.Daily[i].Paths["rules"]) })
	check("amount", 2000, func(i int) float64 { return sum(truth[i].Amounts) }, func(i int) float64 { return got.Daily[i].Amount })
	// Derived rates are post-processing of the released counts.
	for i, d := range got.Daily {
		if p := float64(d.TruePositives) / float64(d.Flagged); d.Precision() != p {
			t.Fatalf("day %d precision %v, want %v from the released counts", i, d.Precision(), p)
		}
	}
	var total int
	for _, d := range got.Daily {
		total += d.Paths["model"]
	}
	if got.Paths["model"] != total {
		t.Errorf("whole-run model decisions %d, want the sum of the released days %d", got.Paths["model"], total)
	}
	if len(got.Scores.Fraud)+len(got.Scores.Legit) != 0 || got.Summary != nil {
		t.Error("Privatize kept the per-transaction scores or the exact summary")
	}
}

// TestPrivatizeLedgerSpend: the ledger embedded in the report spent exactly the sum of its
// queries' ε, one entry per query however many days each covers, and restores.
func TestPrivatizeLedgerSpend(t *testing.T) {
	got, err := Privatize(Data{Daily: bigDays(15)}, Privacy{Dataset: "fraud-report", Budget: 1, AmountCap: 100}, dp.NewSeededNoise(1))
	if err != nil {
		t.Fatal(err)
	}
	var rec dp.Record
	if err := json.Unmarshal(got.Privacy.Record, &rec); err != nil {
		t.Fatalf("embedded ledger record: %v", err)
	}
	if len(rec.Entries) != len(Queries) {
		t.Fatalf("ledger has %d entries, want one per query (%d)", len(rec.Entries), len(Queries))
	}
	var s float64
	for i, e := range rec.Entries {
		if e.Query != Queries[i] {
			t.Errorf("entry %d is %q, want %q", i, e.Query, Queries[i])
		}
		s += e.Epsilon
	}
	if math.Abs(rec.Spent.Epsilon-s) > 1e-12 || math.Abs(s-1) > 1e-9 || got.Privacy.Spent != rec.Spent {
		t.Errorf("spent ε = %v (info %v), sum of queries %v, want both 1", rec.Spent.Epsilon, got.Privacy.Spent.Epsilon, s)
	}
	l, err := dp.Restore(rec)
	if err != nil || math.Abs(l.Spent().Epsilon-s) > 1e-12 {
		t.Errorf("dp.Restore(embedded record) = %v, %v; want spent %v", l, err, s)
	}
	html := render(t, got)
	if !strings.Contains(html, "&#34;dataset&#34;: &#34;fraud-report&#34;") || !strings.Contains(html, "spent ε = 1,") {
		t.Error("the page lacks the ledger's record or the spend")
	}
}

// TestPrivateReportRefusesPastBudget: a report whose queries ask for more than its budget
// gets the later ones refused by the ledger, and the page shows the refusal, not numbers.
func TestPrivateReportRefusesPastBudget(t *testing.T) {
	truth := bigDays(15)
	got, err := Privatize(Data{Daily: truth}, Privacy{Dataset: "greedy", Budget: 1, QueryEpsilon: 0.3, AmountCap: 100}, dp.NewSeededNoise(5))
	if err != nil {
		t.Fatalf("Privatize() error %v, want refusals in the report, not an error", err)
	}
	var refused []string
	for _, q := range got.Privacy.Queries {
		if q.Refused != "" {
			refused = append(refused, q.Name)
		}
	}
	want := []string{QueryTruePositives, QueryPaths, QueryAmount} // 3 × 0.3 fit in 1, the 4th does not
	if strings.Join(refused, ",") != strings.Join(want, ",") {
		t.Fatalf("refused %v, want %v", refused, want)
	}
	if math.Abs(got.Privacy.Spent.Epsilon-0.9) > 1e-9 {
		t.Errorf("spent ε = %v, want 0.9 (refused queries spend nothing)", got.Privacy.Spent.Epsilon)
	}
	html := render(t, got)
	// Frauds flagged and amount cells of 15 days, and 3 outcomes in the privacy table.
	if n := strings.Count(html, "<td>refused</td>"); n != 2*len(truth)+3 {
		t.Errorf("page has %d refused cells, want %d", n, 2*len(truth)+3)
	}
	for _, want := range []string{"privacy budget exceeded", "frauds flagged per day needs ε=0.3",
		"Refused by the report&#39;s privacy ledger: no decisions by path are shown."} {
		if !strings.Contains(html, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	for _, d := range got.Daily {
		if d.TruePositives != 0 || d.Amount != 0 || len(d.Paths) != 0 {
			t.Fatalf("a refused query left values in the released data: %+v", d)
		}
	}
	// Recall and precision need frauds flagged: every rate cell is a dash.
	if strings.Contains(html, "%</td>") {
		t.Error("the page shows a rate computed without the refused frauds-flagged count")
	}
}

// TestPrivateReportHidesTrueCounts: with privacy on, no true per-day count, path count,
// amount or total appears on the page, while the exact page shows them all (so the search
// would find them). A released count rounds back to its true value with probability about
// 1/(2b): at ε = 1 over six queries (b = 6) some of the 79 cells would by chance, so the test
// uses ε = 0.06 (b = 100, about 1 in 200 per cell) and seed 1, where none does (seeds 4, 6
// and 8 each have one such coincidence).
func TestPrivateReportHidesTrueCounts(t *testing.T) {
	truth := bigDays(15)
	// Table and summary cells are ">n<"; whole-run path totals are "n (share)".
	var secrets []string
	var tot Day
	paths := map[string]int{}
	for _, d := range truth {
		tot.Transactions += d.Transactions
		tot.Frauds += d.Frauds
		for p, n := range d.Paths {
			paths[p] += n
		}
		for _, n := range []int{d.Transactions, d.Frauds, d.Flagged, d.TruePositives, int(math.Round(sum(d.Amounts)))} {
			secrets = append(secrets, ">"+count(n)+"<")
		}
	}
	secrets = append(secrets, ">"+count(tot.Transactions)+"<", ">"+count(tot.Frauds)+"<",
		">"+count(paths["model"])+" (", ">"+count(paths["rules"])+" (")
	exact := Data{Paths: paths}
	for _, d := range truth {
		d.Amount = sum(d.Amounts)
		exact.Daily = append(exact.Daily, d)
	}
	exact.Summary = []KV{{"transactions", count(tot.Transactions)}, {"frauds", count(tot.Frauds)}}
	plain := render(t, exact)
	for _, s := range secrets {
		if !strings.Contains(plain, s) {
			t.Fatalf("the exact page lacks %q: the check below could not see a leak", s)
		}
	}
	if !strings.Contains(plain, "Exact numbers, not differentially private") {
		t.Error("the exact page does not say it is exact")
	}
	// The exact report's data goes in whole: its true totals and summary must not come out.
	got, err := Privatize(exact, Privacy{Dataset: "r", Budget: 0.06, AmountCap: 100}, dp.NewSeededNoise(1))
	if err != nil {
		t.Fatal(err)
	}
	t2 := Totals(got.Daily)
	got.Summary = append(got.Summary, KV{"transactions", count(t2.Transactions)}, KV{"frauds", count(t2.Frauds)})
	html := render(t, got)
	for _, s := range secrets {
		if strings.Contains(html, s) {
			t.Errorf("the private page shows the true value %s", s)
		}
	}
	if strings.Contains(html, "Exact numbers") || !strings.Contains(html, "differentially private") {
		t.Error("the private page is labelled exact, or not labelled private")
	}
}
