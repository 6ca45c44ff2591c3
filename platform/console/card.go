package console

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"slices"
	"time"

	"github.com/casebook-ml/casebook/platform/eventlog"
	"github.com/casebook-ml/casebook/platform/ml"
	"github.com/casebook-ml/casebook/platform/plot"
	"github.com/casebook-ml/casebook/platform/predlog"
	"github.com/casebook-ml/casebook/platform/registry"
)

// explainRows is how many logged rows of a version the card explains.
const explainRows = 200

type metricRow struct {
	Name   string
	Values []string
}

type cardData struct {
	V         registry.Version
	Held      []string
	Sets      []string
	Metrics   []metricRow
	Moves     []registry.AuditEntry
	Lineage   []int
	Missing   int // a parent that is not in the registry (0: none)
	Params    []aliasPos
	Explain   string // why there are no explanations, if there are none
	Explained int
}

func (c *Console) cardPage(w http.ResponseWriter, r *http.Request, p principal) error {
	start := time.Now()
	ctx := r.Context()
	v, err := c.version(ctx, r)
	if err != nil {
		return err
	}
	al, err := c.reg.Aliases(ctx, v.Model)
	if err != nil {
		return err
	}
	audit, err := c.reg.Audit(ctx, v.Model)
	if err != nil {
		return err
	}
	d := cardData{V: v}
	for _, a := range sortedAliases(al) {
		if a.Version == v.Number {
			d.Held = append(d.Held, a.Alias)
		}
	}
	names := map[string]bool{}
	for s, ms := range v.Metrics {
		d.Sets = append(d.Sets, s)
		for n := range ms {
			names[n] = true
		}
	}
	slices.Sort(d.Sets)
	for n := range names {
		row := metricRow{Name: n}
		for _, s := range d.Sets {
			if val, ok := v.Metrics[s][n]; ok {
				row.Values = append(row.Values, fmt.Sprintf("%.4f", val))
			} else {
				row.Values = append(row.Values, "–")
			}
		}
		d.Metrics = append(d.Metrics, row)
	}
	slices.SortFunc(d.Metrics, func(a, b metricRow) int { return cmp.Compare(a.Name, b.Name) })
	for _, e := range audit {
		if e.To == v.Number && e.Alias != "" {
			d.Moves = append(d.Moves, e)
		}
	}
	for parent, seen := v.Parent, 0; parent > 0 && seen < 100; seen++ {
		pv, err := c.reg.Resolve(ctx, v.Model, fmt.Sprint(parent))
		if err != nil {
			d.Missing = parent
			break
		}
		d.Lineage = append(d.Lineage, pv.Number)
		parent = pv.Parent
	}
	for k, val := range v.Params {
		d.Params = append(d.Params, aliasPos{Alias: k + " = " + val})
	}
	slices.SortFunc(d.Params, func(a, b aliasPos) int { return cmp.Compare(a.Alias, b.Alias) })
	var charts []chart
	svg, n, why, err := c.explain(ctx, v)
	if err != nil {
		return err
	}
	d.Explained, d.Explain = n, why
	if svg != "" {
		charts = append(charts, chart{Title: "explanations", SVG: svg})
	}
	return c.show(w, "card", start, page{Title: fmt.Sprintf("Model card: %s v%d", v.Model, v.Number), Who: p, Open: c.cfg.OpenRead, Data: d, Charts: charts})
}

// explain attributes the version's most recent logged predictions to their features with
// the model's own Explain, and draws the mean absolute contribution per feature. It says
// why when it cannot: no event log, no logged rows, an artifact that is not a model.
func (c *Console) explain(ctx context.Context, v registry.Version) (svgOut template.HTML, n int, why string, err error) {
	if c.cfg.Log == nil {
		return "", 0, "no event log: explanations are computed on logged predictions", nil
	}
	var rows []predlog.Prediction
	_, err = c.cfg.Log.Replay(ctx, predlog.PredictionStream, eventlog.FromBeginning(), []string{predlog.PredictionSubject(v.Model)}, func(_ context.Context, m *eventlog.Message) error {
		ps, err := predlog.DecodePredictions(m)
		if err != nil {
			return nil
		}
		for _, p := range ps {
			if p.Version == v.Number {
				rows = append(rows, p)
				if len(rows) > 4*explainRows {
					rows = slices.Delete(rows, 0, len(rows)-explainRows)
				}
			}
		}
		return nil
	})
	if errors.Is(err, eventlog.ErrStreamNotFound) {
		return "", 0, "no prediction log on this event log", nil
	}
	if err != nil {
		return "", 0, "", err
	}
	if len(rows) == 0 {
		return "", 0, "no logged predictions of this version to explain", nil
	}
	rows = rows[max(0, len(rows)-explainRows):]
	m, _, err := c.reg.Load(ctx, v.Model, fmt.Sprint(v.Number))
	if err != nil {
		return "", 0, fmt.Sprintf("artifact not loadable as a model (%v)", err), nil
	}
	s := m.Schema()
	sum := make([]float64, s.Len())
	for _, p := range rows {
		b := ml.Batch{Schema: s, X: p.Row(s)}
		e, err := m.Explain(b, 0)
		if err != nil {
			continue // a row with a missing value: the model refuses it, as serving would
		}
		n++
		for i, ct := range e.Contributions {
			if i < len(sum) {
				sum[i] += math.Abs(ct.Value)
			}
		}
	}
	if n == 0 {
		return "", 0, "no logged row of this version could be explained (missing values)", nil
	}
	bars := plot.Bars{Title: fmt.Sprintf("mean |contribution to the logit| over the last %d logged predictions", n), YLabel: "mean |contribution|"}
	ser := plot.BarSeries{Name: fmt.Sprintf("v%d", v.Number)}
	for i, f := range s.Features {
		bars.Categories = append(bars.Categories, f.Name)
		ser.Values = append(ser.Values, sum[i]/float64(n))
	}
	bars.Series = []plot.BarSeries{ser}
	svg, err := bars.SVG()
	return svg, n, "", err
}

func (c *Console) cardMarkdown(w http.ResponseWriter, r *http.Request, _ principal) error {
	v, err := c.version(r.Context(), r)
	if err != nil {
		return err
	}
	md, err := c.reg.Card(r.Context(), v.Model, fmt.Sprint(v.Number))
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/markdown; charset=utf-8")
	_, err = w.Write([]byte(md))
	return err
}
