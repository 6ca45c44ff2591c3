package scenarios

import (
	"context"
	"fmt"

	"github.com/casebook-ml/casebook/fraud/internal/live"
	"github.com/casebook-ml/casebook/platform/scenario"
)

func privacyPII() scenario.Scenario {
	return scenario.Scenario{
		Name:    "fraud/privacy-pii",
		Summary: "Customer ids planted as thirteen-digit values go through the streaming path (event log, features, offline store, registry, prediction log, logs, metrics); every output is scanned byte by byte: no raw id with tokenization, many without.",
		Run: func(ctx context.Context, r *scenario.Report) error {
			const customers, days = 200, 30
			r.Step("Simulate %d customers over %d days; customer c becomes %d + c×%d; tokenize at ingestion (HMAC-SHA256, ephemeral key), stream, build the training set, scan", customers, days, live.PlantedBase, live.PlantedStep)
			res, err := live.ScanPII(ctx, true, customers, days)
			if err != nil {
				return err
			}
			var bytes int64
			for _, o := range res.Outputs {
				r.Say("%-85s %6d parts %9d bytes  %d hits", o.Name, o.Files, o.Bytes, o.Hits)
				bytes += o.Bytes
			}
			r.Say("Searched for each of %d planted ids as decimal text, hexadecimal, int64 big- and little-endian and float64: %d live transactions decided.", res.Planted, res.Decided)
			r.Measure("bytes scanned", float64(bytes), "B")
			r.Measure("planted ids found", float64(res.Hits()), "")
			r.Check("no planted customer id in any output", res.Hits() == 0)
			r.Say("Joins on tokens: the training set (%d rows) built from the tokenized offline store differs from the features computed on the raw ids in %d values; the online store answers %d customers by token, %d by raw id.",
				res.TrainingRows, res.JoinMismatches, res.OnlineByToken, res.OnlineByRawID)
			r.Check("the features joined on tokens equal those on raw ids", res.JoinMismatches == 0 && res.TrainingRows > 0)
			r.Check("the online store is keyed by tokens, not raw ids", res.OnlineByToken > 0 && res.OnlineByRawID == 0)
			r.Say("The registered model version records: %q", res.PIIPolicy)

			r.Step("Control: the same run with tokenization off, to show the scan sees raw ids where they go")
			ctl, err := live.ScanPII(ctx, false, customers, days)
			if err != nil {
				return err
			}
			for _, o := range ctl.Outputs {
				ex := ""
				if o.Example != "" {
					ex = fmt.Sprintf(" (e.g. %s)", o.Example)
				}
				r.Say("%-85s %d hits%s", o.Name, o.Hits, ex)
			}
			r.Measure("planted ids found without tokenization", float64(ctl.Hits()), "")
			r.Check("without tokenization the scan finds the planted ids", ctl.Hits() > 0 && ctl.OnlineByRawID > 0)
			return nil
		},
	}
}
