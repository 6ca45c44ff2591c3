// Package report writes the fraud case study's HTML report: score distributions against the
// decision thresholds, precision and recall per day, decision latency and decisions by path,
// each with a plain-language note on how to read it. It takes plain numbers, so the scenario
// code fills a Data and nothing here depends on the stream.
package report

import (
	"fmt"
	"io"
	"math"
	"time"

	"github.com/casebook-ml/casebook/platform/plot"
)

// Data is everything the report shows. Every field may be empty; the matching section then
// says there is no data rather than failing.
type Data struct {
	Title       string // default "Fraud detection case study"
	GeneratedAt time.Time
	Summary     []KV // headline numbers, already formatted: transactions, throughput, AUC…
	Scores      Scores
	Thresholds  Thresholds
	Daily       []Day
	// LatencyMillis are publish→decision latency samples in milliseconds.
	LatencyMillis []float64
	// LatencyOverTime is optional: percentiles per wall-clock interval.
	LatencyOverTime []LatencyPoint
	Paths           map[string]int // decisions by path over the whole run (model, rules)
	Notes           []string       // plain-language explanations for a newcomer
	// Privacy is set by Privatize: the per-day numbers are differentially private releases
	// and the page says so, with the budget, the spend and the ledger's record. Nil means
	// the numbers are exact, and the page says that too.
	Privacy *PrivacyInfo
}

// KV is one headline number, already formatted by the caller.
type KV struct {
	Key, Value string
}

// Scores are the model's scores of transactions whose label is known, split by label.
type Scores struct {
	Fraud, Legit []float64
}

// Thresholds are the score cut-offs of the decision policy: at or above Review a transaction
// goes to a human, at or above Decline it is refused. Zero means the policy has none.
type Thresholds struct {
	Review, Decline float64
}

// Day is one event-time day of labelled outcomes. Precision and recall are derived from the
// counts, so the chart and the table cannot disagree.
type Day struct {
	Date          time.Time
	Transactions  int            // decided that day
	Frauds        int            // of which labelled fraud
	Flagged       int            // sent to review or declined
	TruePositives int            // flagged and labelled fraud
	Paths         map[string]int // decisions by path that day (model, rules); optional
	Amount        float64        // total amount decided that day; optional
	// Amounts are the day's transaction amounts, the input of Privatize's private sum; they
	// are never shown.
	Amounts []float64
}

// Precision is the share of flagged transactions that were fraud; NaN when none was flagged.
func (d Day) Precision() float64 { return ratio(d.TruePositives, d.Flagged) }

// Recall is the share of frauds that were flagged; NaN when there was no fraud.
func (d Day) Recall() float64 { return ratio(d.TruePositives, d.Frauds) }

func ratio(n, d int) float64 {
	if d == 0 {
		return math.NaN()
	}
	return float64(n) / float64(d)
}

// LatencyPoint holds latency percentiles, in milliseconds, for the interval starting At.
type LatencyPoint struct {
	At       time.Time
	P50, P99 float64
}

// Write renders d as a self-contained HTML page.
func Write(w io.Writer, d Data) error {
	if err := Page(d).Write(w); err != nil {
		return fmt.Errorf("fraud report: %w", err)
	}
	return nil
}

// Page builds the report page, for callers that want to add sections before writing it.
func Page(d Data) plot.Page {
	title := d.Title
	if title == "" {
		title = "Fraud detection case study"
	}
	p := plot.Page{
		Title: title,
		Intro: []string{
			"This report shows how the fraud detector did on the simulated transaction stream: " +
				"how well its scores separate fraud from legitimate payments, how many frauds it caught " +
				"day by day and at what cost in false alarms, how quickly it answered, and which part of " +
				"the system (the model or the fallback rules) made each decision.",
			"Each chart has a note under it saying how to read it. In the score charts fraud is red " +
				"and legitimate payments are blue.",
		},
		Sections: []plot.Section{
			summarySection(d),
			privacySection(d.Privacy),
			scoresSection(d.Scores, d.Thresholds, d.Privacy != nil),
			dailySection(d.Daily, d.Privacy),
			latencySection(d.LatencyMillis, d.LatencyOverTime),
			pathsSection(d.Paths, d.Daily, d.Privacy),
		},
	}
	if !d.GeneratedAt.IsZero() {
		p.Subtitle = "Generated " + d.GeneratedAt.UTC().Format("2006-01-02 15:04:05 UTC")
	}
	return p
}
