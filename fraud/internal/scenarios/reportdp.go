package scenarios

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/casebook-ml/casebook/fraud/internal/report"
	"github.com/casebook-ml/casebook/platform/privacy/dp"
)

// ReportDPEnv sets the privacy budget ε of the fraud/stream report: a positive number, or
// "off" for an exact report labelled as such. Unset means DefaultReportEpsilon: the report
// is written to be published, so it is private unless asked otherwise.
const ReportDPEnv = "CASEBOOK_FRAUD_REPORT_DP_EPSILON"

// DefaultReportEpsilon is the report's budget when ReportDPEnv is unset, split evenly over
// its six per-day queries (ε ≈ 0.17 each, Laplace noise of scale 6 on a count).
const DefaultReportEpsilon = 1.0

// reportAmountCap bounds one transaction's amount in the report's private sums. It is
// public: five times the largest mean spend the simulator gives a customer (100), chosen
// from the simulator's configuration, never from the data.
const reportAmountCap = 500

// reportEpsilon reads ReportDPEnv: the budget, or 0 for an exact report.
func reportEpsilon(getenv func(string) string) (float64, error) {
	v := strings.TrimSpace(getenv(ReportDPEnv))
	switch strings.ToLower(v) {
	case "":
		return DefaultReportEpsilon, nil
	case "off", "exact", "none":
		return 0, nil
	}
	eps, err := strconv.ParseFloat(v, 64)
	if err != nil || !(eps > 0) || math.IsInf(eps, 0) {
		return 0, fmt.Errorf("%s=%q: want a positive ε such as 1, or \"off\" for an exact report", ReportDPEnv, v)
	}
	return eps, nil
}

// privateReport releases rep's per-day numbers under budget eps with cryptographic noise
// and rebuilds the summary from the released values only. ops are headline numbers that
// are not about customers (rates, latency) and are kept as they are.
func privateReport(rep report.Data, eps float64, at time.Time, ops []report.KV) (report.Data, error) {
	noise, err := dp.NewCryptoNoise()
	if err != nil {
		return report.Data{}, err
	}
	out, err := report.Privatize(rep, report.Privacy{
		Dataset: "fraud/stream report " + at.UTC().Format(time.RFC3339), Budget: eps, AmountCap: reportAmountCap,
	}, noise)
	if err != nil {
		return report.Data{}, err
	}
	t := report.Totals(out.Daily)
	p := out.Privacy
	na := func(query, s string) string {
		if p.Refused(query) {
			return "refused by the privacy ledger"
		}
		return s
	}
	recall, precision := "–", "–"
	if !p.Refused(report.QueryTruePositives) && !p.Refused(report.QueryFrauds) {
		recall = fmtPct(t.TruePositives, t.Frauds)
	}
	if !p.Refused(report.QueryTruePositives) && !p.Refused(report.QueryFlagged) {
		precision = fmtPct(t.TruePositives, t.Flagged)
	}
	out.Summary = append([]report.KV{
		{Key: "Privacy", Value: fmt.Sprintf("differentially private, %s: ε = %.4g spent of %.4g (δ = 0); see the Privacy section", p.Mechanism, p.Spent.Epsilon, p.Budget.Epsilon)},
		{Key: "Transactions decided (private)", Value: na(report.QueryTransactions, fmt.Sprint(t.Transactions))},
		{Key: "Frauds (private)", Value: na(report.QueryFrauds, fmt.Sprint(t.Frauds))},
		{Key: "Online recall / precision (from the private counts)", Value: recall + " / " + precision},
		{Key: "Rule decisions (private)", Value: na(report.QueryPaths, fmt.Sprint(out.Paths["rules"]))},
	}, ops...)
	return out, nil
}

// reportError is the mean absolute difference between the released and the true per-day
// transactions and recall, the cost of the report's privacy in this run.
func reportError(truth, released []report.Day) (tx, recall float64) {
	var nr int
	for i := range truth {
		tx += math.Abs(float64(released[i].Transactions - truth[i].Transactions))
		if a, b := released[i].Recall(), truth[i].Recall(); !math.IsNaN(a) && !math.IsNaN(b) {
			recall += math.Abs(a - b)
			nr++
		}
	}
	return tx / float64(max(1, len(truth))), recall / float64(max(1, nr))
}

// sumEps adds the ε of the queries the ledger admitted.
func sumEps(qs []report.QueryInfo) float64 {
	var s float64
	for _, q := range qs {
		if q.Refused == "" {
			s += q.Epsilon
		}
	}
	return s
}
