package scenarios

import (
	"fmt"
	"io"

	"github.com/casebook-ml/casebook/adsranking/internal/auction"
	"github.com/casebook-ml/casebook/adsranking/internal/pacing"
	"github.com/casebook-ml/casebook/platform/plot"
	"github.com/casebook-ml/casebook/platform/scenario"
)

// chartCampaigns is how many campaigns the pacing charts draw: enough to see the tight
// and the loose budgets, few enough to tell the lines apart.
const chartCampaigns = 6

// pacingPage is the ads/pacing report: the comparison table, then per run the cumulative
// spend of a few campaigns against the plan and, for the paced runs, their control.
func pacingPage(res pacing.Result) plot.Page {
	p := plot.Page{
		Title:    "Ad auction: budget pacing over a simulated day",
		Subtitle: fmt.Sprintf("%d campaigns, %d requests with diurnal traffic; `adsranking scenario run ads/pacing`", res.Config.Campaigns, res.Config.Requests),
		Intro: []string{
			"Each campaign should spend its daily budget in step with the day's traffic (the dashed plan) and never more than 1% over it.",
			"\"reserve at decision\" counts a bid's price against the budget when the bid is sent and settles it when the impression is reported; \"count on report\" waits for the report, so late reports let a campaign keep winning past its budget.",
		},
		Sections: []plot.Section{{Heading: "Summary", Blocks: []plot.Block{res.SummaryTable()}}},
	}
	spend := plot.Section{Heading: "Spend against plan, per campaign"}
	for _, ch := range res.SpendCharts(chartCampaigns) {
		spend.Blocks = append(spend.Blocks, plot.Figure{Chart: ch,
			Caption: "Cumulative spend in % of each campaign's daily budget; the dashed line is the plan (the forecast share of the day's traffic so far). Campaigns run from the tightest budget relative to demand to the loosest."})
	}
	control := plot.Section{Heading: "The pacers' controls"}
	for _, ch := range res.ControlCharts(chartCampaigns) {
		control.Blocks = append(control.Blocks, plot.Figure{Chart: ch,
			Caption: "Throttling: the share of eligible auctions a campaign enters. PID: the multiplier on its bids. Both fall for campaigns ahead of plan."})
	}
	p.Sections = append(p.Sections, spend, control)
	return p
}

// frontierPage is the ads/auction report: revenue against user value as the weight of
// the user-value term moves.
func frontierPage(rows []auction.MechanismRow, pts []auction.FrontierPoint) plot.Page {
	mech := plot.Table{Caption: "Mechanisms on the same random auctions, each under its bidding model", Header: []string{"mechanism", "bidding", "revenue", "advertiser surplus", "welfare", "efficiency", "price / value"}}
	for _, r := range rows {
		mech.Rows = append(mech.Rows, []string{r.Mechanism.String(), r.Bidding, fmt.Sprintf("%.5f", r.Revenue), fmt.Sprintf("%.5f", r.AdvertiserSurplus),
			fmt.Sprintf("%.5f", r.Welfare), fmt.Sprintf("%.3f", r.Efficiency), fmt.Sprintf("%.3f", r.PriceToValue)})
	}
	x, y := make([]float64, len(pts)), make([]float64, len(pts))
	tab := plot.Table{Caption: "The points of the curve", Header: []string{"λ", "revenue", "user value", "advertiser value"}}
	for i, p := range pts {
		x[i], y[i] = p.UserValue, p.Revenue
		tab.Rows = append(tab.Rows, []string{fmt.Sprint(p.UserWeight), fmt.Sprintf("%.5f", p.Revenue), fmt.Sprintf("%.4f", p.UserValue), fmt.Sprintf("%.5f", p.AdvertiserValue)})
	}
	curve := plot.Lines{Title: "Revenue against user value as λ rises", XLabel: "user value per auction", YLabel: "revenue per auction ($)", Points: true,
		Series: []plot.Series{{Name: "GSP ranking by bid·pCTR + λ·user value", X: x, Y: y}}}
	return plot.Page{
		Title:    "Ad auction: mechanisms and the revenue / user-value trade-off",
		Subtitle: "`adsranking scenario run ads/auction`",
		Sections: []plot.Section{
			{Heading: "GSP, VCG and first price", Blocks: []plot.Block{mech}},
			{Heading: "Multi-objective ranking", Blocks: []plot.Block{
				plot.Figure{Chart: curve, Caption: "Each point is one weight λ of the user-value term, from 0 (pure eCPM, the top-left point) upward: user value bought with revenue."},
				tab,
			}},
		},
	}
}

// writePage writes p as the named report and says where.
func writePage(r *scenario.Report, name string, p plot.Page) error {
	path, err := scenario.WriteReport(name, func(w io.Writer) error { return p.Write(w) })
	if err != nil {
		return err
	}
	r.Say("report: %s", path)
	return nil
}
