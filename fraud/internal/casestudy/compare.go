package casestudy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/casebook-ml/casebook/fraud/events"
	"github.com/casebook-ml/casebook/fraud/internal/decision"
	"github.com/casebook-ml/casebook/fraud/internal/eval"
	"github.com/casebook-ml/casebook/fraud/internal/txfeatures"
	"github.com/casebook-ml/casebook/platform/eventlog"
)

// CompareConfig is `fraud compare`: the streaming system's decisions on a replayed CSV
// against the batch protocol's scores on the same transactions.
type CompareConfig struct {
	// CSV is the file the stream replayed (`fraud stream --csv`, loadgen's fraud:csv=).
	CSV string
	// NATS is the event log holding the stream's decisions (FRAUD_DECISIONS).
	NATS     string
	Protocol eval.Config
}

// DefaultCompareConfig reads the decisions from `fraud stream`'s embedded server on its
// default port and runs the handbook's protocol.
func DefaultCompareConfig() CompareConfig {
	return CompareConfig{NATS: "nats://127.0.0.1:4222", Protocol: eval.DefaultConfig()}
}

// Validate names a missing input or bad protocol.
func (c CompareConfig) Validate() error {
	if c.CSV == "" {
		return errors.New("compare: --csv is required")
	}
	if c.NATS == "" || c.NATS == eventlog.EmbeddedURL {
		return errors.New("compare: --nats must be the URL of the server holding the stream's decisions")
	}
	return c.Protocol.Validate()
}

// CompareRow is one set of scores on the compared transactions.
type CompareRow struct {
	Name    string  `json:"name"`
	AUC     float64 `json:"auc"`
	AP      float64 `json:"average_precision"`
	MeanCP  float64 `json:"card_precision_at_k"`
	Comment string  `json:"comment,omitempty"`
}

// Comparison is what compare computes.
type Comparison struct {
	Split eval.Split `json:"split"`
	TopK  int        `json:"top_k"`
	// TestRows are the test days' transactions after known-card removal; Compared those
	// of them the stream decided by its model (the rows every score set is measured on);
	// Rules those it decided by its rules (no score); Undecided those it has not decided.
	TestRows, Compared, Rules, Undecided int
	Rows                                 []CompareRow `json:"rows"`
}

// streamDecision is what compare keeps of a decision.
type streamDecision struct {
	score   float64
	version int
	model   bool
}

// readDecisions reads every decision in the log, by transaction id; a transaction decided
// twice (which the scorer prevents) is an error.
func readDecisions(ctx context.Context, url string) (map[int64]streamDecision, error) {
	lc := eventlog.DefaultConfig()
	lc.URL = url
	log, err := eventlog.Open(ctx, lc)
	if err != nil {
		return nil, fmt.Errorf("compare: %w", err)
	}
	defer log.Close()
	out := map[int64]streamDecision{}
	_, err = log.Replay(ctx, events.DecisionStream, eventlog.FromBeginning(), nil, func(_ context.Context, m *eventlog.Message) error {
		var d decision.Decision
		if err := json.Unmarshal(m.Data, &d); err != nil {
			return fmt.Errorf("decision %s: %w", m.ID, err)
		}
		if _, dup := out[d.TransactionID]; dup {
			return fmt.Errorf("transaction %d has two decisions", d.TransactionID)
		}
		out[d.TransactionID] = streamDecision{score: d.Score, version: d.ModelVersion, model: d.Path == decision.PathModel}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("compare: read decisions: %w", err)
	}
	return out, nil
}

// Compare runs the batch protocol on cfg.CSV and measures, on its test days (after
// known-card removal), the stream's model scores beside each batch candidate's, on exactly
// the transactions the stream decided by its model.
func Compare(ctx context.Context, cfg CompareConfig, stdout io.Writer) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	decided, err := readDecisions(ctx, cfg.NATS)
	if err != nil {
		return err
	}
	txs, err := ReadCSVFile(cfg.CSV)
	if err != nil {
		return err
	}
	x, _, err := BuildTrainingSet(ctx, txs, "", nil)
	if err != nil {
		return fmt.Errorf("compare: %w", err)
	}
	tab := eval.NewTable(txs, x, txfeatures.Names)
	rep, err := eval.Run(ctx, tab, eval.DefaultCandidates(), cfg.Protocol)
	if err != nil {
		return err
	}
	c, err := compare(tab, rep, decided)
	if err != nil {
		return err
	}
	printComparison(stdout, cfg, c)
	return nil
}

// compare measures every score set on the test rows the stream decided by its model.
func compare(tab *eval.Table, rep *eval.Report, decided map[int64]streamDecision) (Comparison, error) {
	c := Comparison{Split: rep.Split, TopK: rep.TopK}
	stream := map[int]float64{}
	versions := map[int]bool{}
	var days [][]int
	for _, rows := range tab.TestDays(rep.Split) {
		var kept []int
		for _, r := range rows {
			c.TestRows++
			d, ok := decided[tab.Txs[r].ID]
			switch {
			case !ok:
				c.Undecided++
			case !d.model:
				c.Rules++
			default:
				kept = append(kept, r)
				stream[r] = d.score
				versions[d.version] = true
			}
		}
		c.Compared += len(kept)
		days = append(days, kept)
	}
	if c.Compared == 0 {
		return c, fmt.Errorf("compare: the stream decided none of the %d test transactions (days %d-%d) by its model: replay the whole file first", c.TestRows,
			rep.Split.TestStart(), rep.Split.TestStart()+rep.Split.TestDays-1)
	}
	row := func(name string, scores map[int]float64, comment string) CompareRow {
		res := eval.Score(tab, days, scores, rep.TopK)
		return CompareRow{Name: name, AUC: res.AUC, AP: res.AP, MeanCP: res.MeanCP, Comment: comment}
	}
	vs := make([]int, 0, len(versions))
	for v := range versions {
		vs = append(vs, v)
	}
	c.Rows = append(c.Rows, row("stream", stream, fmt.Sprintf("the streaming system's decisions (model versions %v)", vs)))
	for _, m := range rep.Models {
		scores := make(map[int]float64, len(m.TestResult.Rows))
		for i, r := range m.TestResult.Rows {
			scores[r] = m.TestResult.Scores[i]
		}
		comment := "batch protocol"
		if m.Name == rep.Selected {
			comment = "batch protocol, selected"
		}
		c.Rows = append(c.Rows, row(m.Name, scores, comment))
	}
	return c, nil
}

func printComparison(w io.Writer, cfg CompareConfig, c Comparison) {
	s := c.Split
	fmt.Fprintf(w, "%s: test days %d-%d of the batch protocol (train days %d-%d); %d test transactions after known-card removal:\n",
		cfg.CSV, s.TestStart(), s.TestStart()+s.TestDays-1, s.TrainStart, s.TrainStart+s.TrainDays-1, c.TestRows)
	fmt.Fprintf(w, "  %d decided by the stream's model (compared below), %d by its rules (no score), %d not decided\n\n", c.Compared, c.Rules, c.Undecided)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "scores\tAUC\tAP\tCP@%d\t\n", c.TopK)
	for _, r := range c.Rows {
		fmt.Fprintf(tw, "%s\t%.3f\t%.3f\t%.3f\t%s\n", r.Name, r.AUC, r.AP, r.MeanCP, r.Comment)
	}
	tw.Flush()
}
