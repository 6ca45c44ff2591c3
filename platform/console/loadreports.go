package console

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/casebook-ml/casebook/platform/plot"
)

// loadReport is the part of loadgen's JSON report (loadgen/report.go) the console reads.
// The platform module cannot import loadgen (dependencies point loadgen → platform), so
// this is a reader's copy of the field names, not a second schema: a field loadgen renames
// reads as zero here, and the page shows what it found.
type loadReport struct {
	Mode         string    `json:"mode"`
	Schedule     string    `json:"schedule"`
	Target       string    `json:"target"`
	Workload     string    `json:"workload"`
	Started      time.Time `json:"started"`
	DurationS    float64   `json:"duration_s"`
	TargetRate   float64   `json:"target_rate"`
	AchievedRate float64   `json:"achieved_rate"`
	Scheduled    int64     `json:"scheduled"`
	Sent         int64     `json:"sent"`
	OK           int64     `json:"ok"`
	Failed       int64     `json:"failed"`
	ErrorRate    float64   `json:"error_rate"`
	Corrected    latency   `json:"corrected"`
	Uncorrected  latency   `json:"uncorrected"`
	WindowS      float64   `json:"window_s"`
	Series       []struct {
		StartS         float64 `json:"start_s"`
		Completed      int64   `json:"completed"`
		Errors         int64   `json:"errors"`
		CorrectedP50Ms float64 `json:"corrected_p50_ms"`
		CorrectedP99Ms float64 `json:"corrected_p99_ms"`
	} `json:"series"`
	SLOs []struct {
		SLO    string `json:"slo"`
		Actual string `json:"actual"`
		OK     bool   `json:"ok"`
	} `json:"slos"`
	Notes []string `json:"notes"`
}

type latency struct {
	Count int64   `json:"count"`
	P50Ms float64 `json:"p50_ms"`
	P99Ms float64 `json:"p99_ms"`
	MaxMs float64 `json:"max_ms"`
}

// reportFile is one JSON file of the reports directory.
type reportFile struct {
	Name    string
	Report  loadReport
	Problem string // why it is not a loadgen report, if it is not
}

// maxReportBytes bounds one report read.
const maxReportBytes = 16 << 20

func readReport(path string) (loadReport, error) {
	var rep loadReport
	st, err := os.Stat(path)
	if err != nil {
		return rep, err
	}
	if st.Size() > maxReportBytes {
		return rep, fmt.Errorf("%d bytes, more than the %d read", st.Size(), maxReportBytes)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return rep, err
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		return rep, fmt.Errorf("not JSON: %w", err)
	}
	if rep.Target == "" || rep.Scheduled == 0 && rep.Sent == 0 {
		return rep, errors.New("JSON, but not a loadgen report (no target, nothing sent)")
	}
	return rep, nil
}

func (c *Console) loadReportsPage(w http.ResponseWriter, r *http.Request, p principal) error {
	start := time.Now()
	var files []reportFile
	entries, err := os.ReadDir(c.cfg.ReportsDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		f := reportFile{Name: e.Name()}
		rep, err := readReport(filepath.Join(c.cfg.ReportsDir, e.Name()))
		if err != nil {
			f.Problem = err.Error()
		}
		f.Report = rep
		files = append(files, f)
	}
	var good []reportFile
	for _, f := range files {
		if f.Problem == "" {
			good = append(good, f)
		}
	}
	slices.SortFunc(good, func(a, b reportFile) int { return a.Report.Started.Compare(b.Report.Started) })
	var charts []chart
	if len(good) > 1 {
		l := plot.Lines{Title: "corrected latency per report", XLabel: "report started", YLabel: "ms", Points: true}
		p50, p99 := plot.Series{Name: "p50"}, plot.Series{Name: "p99"}
		for _, f := range good {
			p50.T, p50.Y = append(p50.T, f.Report.Started), append(p50.Y, f.Report.Corrected.P50Ms)
			p99.T, p99.Y = append(p99.T, f.Report.Started), append(p99.Y, f.Report.Corrected.P99Ms)
		}
		l.Series = []plot.Series{p50, p99}
		svg, err := l.SVG()
		if err != nil {
			return err
		}
		charts = append(charts, chart{Title: "latency per report", SVG: svg})
	}
	data := struct {
		Dir   string
		Files []reportFile
	}{c.cfg.ReportsDir, files}
	return c.show(w, "loadreports", start, page{Title: "Load reports", Who: p, Open: c.cfg.OpenRead, Data: data, Charts: charts})
}

func (c *Console) loadReportPage(w http.ResponseWriter, r *http.Request, p principal) error {
	start := time.Now()
	name := mux.Vars(r)["file"]
	if name != filepath.Base(name) || !strings.HasSuffix(name, ".json") || strings.HasPrefix(name, ".") {
		return errorf(http.StatusBadRequest, "%q: want the name of a .json file in the reports directory", name)
	}
	rep, err := readReport(filepath.Join(c.cfg.ReportsDir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return errorf(http.StatusNotFound, "no report %s in %s", name, c.cfg.ReportsDir)
	}
	if err != nil {
		return errorf(http.StatusUnprocessableEntity, "%s: %v", name, err)
	}
	var charts []chart
	if len(rep.Series) > 0 {
		lat := plot.Lines{Title: "corrected latency per window", XLabel: "seconds into the run", YLabel: "ms"}
		thr := plot.Lines{Title: "completed and failed per second", XLabel: "seconds into the run", YLabel: "per second"}
		p50, p99 := plot.Series{Name: "p50"}, plot.Series{Name: "p99"}
		okS, errS := plot.Series{Name: "completed"}, plot.Series{Name: "errors", Color: "#c0392b"}
		win := max(rep.WindowS, 1e-9)
		for _, s := range rep.Series {
			p50.X, p50.Y = append(p50.X, s.StartS), append(p50.Y, s.CorrectedP50Ms)
			p99.X, p99.Y = append(p99.X, s.StartS), append(p99.Y, s.CorrectedP99Ms)
			okS.X, okS.Y = append(okS.X, s.StartS), append(okS.Y, float64(s.Completed)/win)
			errS.X, errS.Y = append(errS.X, s.StartS), append(errS.Y, float64(s.Errors)/win)
		}
		lat.Series, thr.Series = []plot.Series{p50, p99}, []plot.Series{okS, errS}
		if rep.TargetRate > 0 {
			thr.Thresholds = []plot.Threshold{{Y: rep.TargetRate, Label: "target rate"}}
		}
		for _, l := range []plot.Lines{lat, thr} {
			svg, err := l.SVG()
			if err != nil {
				return err
			}
			charts = append(charts, chart{Title: l.Title, SVG: svg})
		}
	}
	return c.show(w, "loadreport", start, page{Title: "Load report " + name, Nav: "loadreport", Who: p, Open: c.cfg.OpenRead, Data: rep, Charts: charts})
}
