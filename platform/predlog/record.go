package predlog

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/casebook-ml/casebook/platform/eventlog"
	"github.com/casebook-ml/casebook/platform/ml"
)

// ErrBadRecord is returned when a logged prediction or outcome does not decode or lacks a
// field. monitoring.ErrBadRecord is the same value.
var ErrBadRecord = errors.New("prediction log: bad record")

// Prediction is one logged score. Features holds the values the model read, by name; a
// missing value (NaN) is left out of the map, so that the record stays valid JSON and the
// reader sees NaN again.
//
// ID is what outcomes are joined on: serving uses the request's id, with "#row" appended
// when the request had several rows; a shadow row has the same ID as the primary's row it
// mirrors. No request key is ever logged.
type Prediction struct {
	ID      string `json:"id"`
	Model   string `json:"model"`
	Version int    `json:"version"`
	// Alias is the route that answered (champion, canary, shadow); "" if not routed by alias.
	Alias    string             `json:"alias,omitempty"`
	Time     time.Time          `json:"time"`
	Features map[string]float64 `json:"features"`
	Score    float64            `json:"score"`
	// Path is the serving path that answered: "primary", "last-good", "heuristic" or
	// "default" (the serving package's Path constants).
	Path string `json:"path,omitempty"`
}

// FeatureNames is the sorted union of the feature names logged in ps: the schema a reader
// of the log uses, since records carry names and values, not types.
func FeatureNames(ps []Prediction) []string {
	seen := map[string]bool{}
	var names []string
	for _, p := range ps {
		for k := range p.Features {
			if !seen[k] {
				seen[k] = true
				names = append(names, k)
			}
		}
	}
	slices.Sort(names)
	return names
}

// Row returns the features in schema order, NaN where a value is missing.
func (p Prediction) Row(s ml.Schema) []float64 {
	out := make([]float64, s.Len())
	for i, f := range s.Features {
		v, ok := p.Features[f.Name]
		if !ok {
			v = math.NaN()
		}
		out[i] = v
	}
	return out
}

// Outcome is what happened after a prediction, joined to it by ID. Time is when it
// happened (event time), not when it was reported.
type Outcome struct {
	ID    string    `json:"id"`
	Model string    `json:"model"`
	Label float64   `json:"label"`
	Time  time.Time `json:"time"`
	// Kind says what the outcome is: "chargeback", "click", "label".
	Kind string `json:"kind,omitempty"`
}

// EventID is the outcome's event id: one outcome of a kind per prediction, so a retried
// report is stored once.
func (o Outcome) EventID() string { return "outcome-" + o.ID + "-" + o.Kind }

// OutcomeEvent validates o and returns it as the event that carries it.
func OutcomeEvent(o Outcome) (eventlog.Event, error) {
	if o.ID == "" || o.Model == "" || math.IsNaN(o.Label) {
		return eventlog.Event{}, fmt.Errorf("outcome %q of %q: %w: id, model and a label are required", o.ID, o.Model, ErrBadRecord)
	}
	o.Time = o.Time.UTC()
	b, err := json.Marshal(o)
	if err != nil {
		return eventlog.Event{}, fmt.Errorf("outcome %q: %w", o.ID, err)
	}
	return eventlog.Event{ID: o.EventID(), Subject: OutcomeSubject(o.Model), Time: o.Time, Data: b}, nil
}

// DecodeOutcome reads an outcome back from the log.
func DecodeOutcome(m *eventlog.Message) (Outcome, error) {
	var o Outcome
	if err := json.Unmarshal(m.Data, &o); err != nil || o.ID == "" {
		return o, fmt.Errorf("%w: outcome %q on %s: %v", ErrBadRecord, m.ID, m.Subject, err)
	}
	return o, nil
}
