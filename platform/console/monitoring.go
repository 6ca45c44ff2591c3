package console

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"time"

	"github.com/casebook-ml/casebook/platform/eventlog"
	"github.com/casebook-ml/casebook/platform/monitoring"
	"github.com/casebook-ml/casebook/platform/plot"
	"github.com/casebook-ml/casebook/platform/predlog"
	"github.com/casebook-ml/casebook/platform/registry"
)

// driftBins is how many quantile bins a feature's reference gets for PSI.
const driftBins = 10

// ksFloor is the smallest KS p-value drawn on the log axis.
const ksFloor = 1e-10

// featureDrift is one feature's drift in the latest window and its data quality there.
type featureDrift struct {
	Feature             string
	PSI, KSD, KSP       float64
	PSIStatus, KSStatus string
	Missing, OutRange   float64
}

type aliasRow struct {
	Alias     string
	Versions  []int
	Count     int
	MeanScore float64
	Fallback  float64 // share answered by a fallback path
}

type monitoringData struct {
	Models     []string
	Model      string
	HasLog     bool   // the alerts were read (there is an event log)
	Note       string // why there is nothing to show
	Total      int
	RefN, Live int
	Windows    int
	Latest     []featureDrift
	Aliases    []aliasRow
	Quality    []monitoring.OnlineQuality
	Firing     []monitoring.Alert
	History    []monitoring.Alert
	PSIWarn    float64
	PSIAlert   float64
	KSWarn     float64
	KSAlert    float64
}

func (c *Console) monitoringPage(w http.ResponseWriter, r *http.Request, p principal) error {
	start := time.Now()
	ctx := r.Context()
	models, err := c.reg.Models(ctx)
	if err != nil {
		return err
	}
	slices.Sort(models)
	th := monitoring.DefaultThresholds()
	d := monitoringData{Models: models, PSIWarn: th[monitoring.PSI].Warn, PSIAlert: th[monitoring.PSI].Alert, KSWarn: th[monitoring.KS].Warn, KSAlert: th[monitoring.KS].Alert}
	d.Model = r.URL.Query().Get("model")
	var charts []chart
	switch {
	case d.Model == "":
		d.Note = "choose a model"
	case !registry.ValidName(d.Model):
		return errorf(http.StatusBadRequest, "%q is not a valid model name", d.Model)
	case c.cfg.Log == nil:
		d.Note = "the console runs without an event log, so there is no prediction log to read"
	default:
		d.HasLog = true
		if charts, err = c.monitor(ctx, &d); err != nil {
			return err
		}
		if d.Total == 0 && !slices.Contains(models, d.Model) {
			return errorf(http.StatusNotFound, "model %q is neither in the registry nor in the prediction log", d.Model)
		}
	}
	return c.show(w, "monitoring", start, page{Title: "Monitoring", Who: p, Open: c.cfg.OpenRead, Data: d, Charts: charts})
}

// monitor reads the model's prediction log, outcomes and alerts and fills d.
func (c *Console) monitor(ctx context.Context, d *monitoringData) ([]chart, error) {
	var ref, live []predlog.Prediction
	jc := monitoring.DefaultJoinConfig()
	jc.Model = d.Model
	join, err := monitoring.NewJoiner(jc, nil)
	if err != nil {
		return nil, err
	}
	byAlias := map[string]*aliasRow{}
	_, err = c.cfg.Log.Replay(ctx, predlog.PredictionStream, eventlog.FromBeginning(), []string{predlog.PredictionSubject(d.Model)}, func(_ context.Context, m *eventlog.Message) error {
		ps, err := predlog.DecodePredictions(m)
		if err != nil {
			return nil // a bad message does not hide the rest
		}
		for _, p := range ps {
			d.Total++
			if len(ref) < c.cfg.Reference {
				ref = append(ref, p)
			} else {
				live = append(live, p)
				if len(live) >= 2*c.cfg.MaxPredictions {
					live = slices.Delete(live, 0, len(live)-c.cfg.MaxPredictions)
				}
			}
			join.AddPrediction(p)
			a := byAlias[p.Alias]
			if a == nil {
				a = &aliasRow{Alias: p.Alias}
				byAlias[p.Alias] = a
			}
			if !slices.Contains(a.Versions, p.Version) {
				a.Versions = append(a.Versions, p.Version)
			}
			a.Count++
			a.MeanScore += p.Score
			if p.Path != "" && p.Path != "primary" {
				a.Fallback++
			}
		}
		return nil
	})
	if errors.Is(err, eventlog.ErrStreamNotFound) {
		d.Note = "no prediction log on this event log (stream " + predlog.PredictionStream + " does not exist): serve with --prediction-log"
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	live = live[max(0, len(live)-c.cfg.MaxPredictions):]
	d.RefN, d.Live = len(ref), len(live)
	for _, a := range byAlias {
		a.MeanScore /= float64(a.Count)
		a.Fallback /= float64(a.Count)
		slices.Sort(a.Versions)
		d.Aliases = append(d.Aliases, *a)
	}
	slices.SortFunc(d.Aliases, func(a, b aliasRow) int { return cmp.Compare(a.Alias, b.Alias) })
	if _, err := c.cfg.Log.Replay(ctx, predlog.OutcomeStream, eventlog.FromBeginning(), []string{predlog.OutcomeSubject(d.Model)}, join.Handler()); err != nil && !errors.Is(err, eventlog.ErrStreamNotFound) {
		return nil, err
	}
	for _, v := range join.Versions() {
		d.Quality = append(d.Quality, join.Quality(v))
	}
	_, err = c.cfg.Log.Replay(ctx, monitoring.AlertStream, eventlog.FromBeginning(), []string{monitoring.AlertSubject(d.Model)}, func(_ context.Context, m *eventlog.Message) error {
		if a, err := monitoring.DecodeAlert(m); err == nil {
			d.History = append(d.History, a)
		}
		return nil
	})
	if err != nil && !errors.Is(err, eventlog.ErrStreamNotFound) {
		return nil, err
	}
	d.Firing = monitoring.CurrentAlerts(d.History)
	slices.Reverse(d.History)
	if d.Total == 0 {
		d.Note = "no predictions logged for this model"
		return nil, nil
	}
	if len(live) == 0 {
		d.Note = fmt.Sprintf("only %d predictions logged: all are the reference period (the first %d), none is left to compare", len(ref), c.cfg.Reference)
		return nil, nil
	}
	return c.drift(d, ref, live)
}

// drift compares each window of live predictions with the reference, per feature and
// for the score, with monitoring's PSI and KS, and draws both over time.
func (c *Console) drift(d *monitoringData, ref, live []predlog.Prediction) ([]chart, error) {
	names := predlog.FeatureNames(ref)
	names = append(names, monitoring.ScoreFeature)
	value := func(p predlog.Prediction, f string) float64 {
		if f == monitoring.ScoreFeature {
			return p.Score
		}
		v, ok := p.Features[f]
		if !ok {
			return math.NaN()
		}
		return v
	}
	nw := min(c.cfg.Windows, len(live))
	d.Windows = nw
	bounds := make([]int, nw+1)
	for i := range bounds {
		bounds[i] = i * len(live) / nw
	}
	ends := make([]time.Time, nw)
	for i := range nw {
		ends[i] = live[bounds[i+1]-1].Time
	}
	th := monitoring.DefaultThresholds()
	psiChart := plot.Lines{Title: "PSI per feature, each window against the reference (log scale)", XLabel: "window end (event time)", YLabel: "PSI", LogY: true, Points: true,
		Thresholds: []plot.Threshold{{Y: th[monitoring.PSI].Warn, Label: "warn", Color: "#a35c00"}, {Y: th[monitoring.PSI].Alert, Label: "alert", Color: "#b3261e"}}}
	ksChart := plot.Lines{Title: fmt.Sprintf("KS p-value per feature (log scale; below %g drawn at %g)", ksFloor, ksFloor), XLabel: "window end (event time)", YLabel: "p-value", LogY: true, Points: true,
		Thresholds: []plot.Threshold{{Y: th[monitoring.KS].Warn, Label: "warn", Color: "#a35c00"}, {Y: th[monitoring.KS].Alert, Label: "alert", Color: "#b3261e"}}}
	for _, f := range names {
		rv := make([]float64, len(ref))
		for i, p := range ref {
			rv[i] = value(p, f)
		}
		refD, err := monitoring.NewNumericReference(rv, driftBins)
		if err != nil {
			continue // a feature the reference never saw a value of cannot drift from it
		}
		psiS, ksS := plot.Series{Name: f, T: ends}, plot.Series{Name: f, T: ends}
		var fd featureDrift
		for wi := range nw {
			win := live[bounds[wi]:bounds[wi+1]]
			vals := make([]float64, 0, len(win))
			missing, out := 0, 0
			for _, p := range win {
				v := value(p, f)
				if math.IsNaN(v) {
					missing++
					continue
				}
				if v < refD.Min || v > refD.Max {
					out++
				}
				vals = append(vals, v)
			}
			psi, ksD, ksP := math.NaN(), math.NaN(), math.NaN()
			if len(vals) > 0 {
				if psi, err = monitoring.PSIOf(refD.Counts, refD.Histogram(vals), monitoring.DefaultEpsilon); err != nil {
					psi = math.NaN()
				}
				slices.Sort(vals)
				if ksD, ksP, err = monitoring.KSOf(refD.Sorted, refD.N, vals); err != nil {
					ksD, ksP = math.NaN(), math.NaN()
				}
			}
			psiS.Y = append(psiS.Y, psi)
			ksS.Y = append(ksS.Y, math.Max(ksP, ksFloor))
			fd = featureDrift{Feature: f, PSI: psi, KSD: ksD, KSP: ksP,
				Missing: float64(missing) / float64(len(win)), OutRange: float64(out) / float64(len(win))}
		}
		fd.PSIStatus = level(fd.PSI, th[monitoring.PSI], false)
		fd.KSStatus = level(fd.KSP, th[monitoring.KS], true)
		d.Latest = append(d.Latest, fd)
		psiChart.Series = append(psiChart.Series, psiS)
		ksChart.Series = append(ksChart.Series, ksS)
	}
	var charts []chart
	for _, l := range []plot.Lines{psiChart, ksChart} {
		svg, err := l.SVG()
		if err != nil {
			return nil, err
		}
		charts = append(charts, chart{Title: l.Title, SVG: svg})
	}
	return charts, nil
}

// level is a value's verdict against its threshold: for a test (KS) a p-value below the
// level trips it, for a distance (PSI) a value at or above it.
func level(v float64, t monitoring.Threshold, test bool) string {
	switch {
	case math.IsNaN(v):
		return "insufficient"
	case test && v < t.Alert, !test && v >= t.Alert:
		return "alert"
	case test && v < t.Warn, !test && v >= t.Warn:
		return "warn"
	}
	return "ok"
}
