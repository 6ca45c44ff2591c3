package features

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Entity is what features describe (a customer, a terminal, an ad); its key joins features
// to label rows and to serving requests.
type Entity struct {
	// Name identifies the entity ("customer").
	Name string `json:"name"`
	// JoinKey names the key column in label rows and requests ("customer_id").
	JoinKey string `json:"join_key"`
	// Description is for people.
	Description string `json:"description,omitempty"`
	// PII marks an entity whose keys identify a person (a customer, a card, a user): its
	// keys reach the stores as keyed-hash tokens (platform/privacy/pii), never raw, and
	// erasing a subject (platform/privacy/forget) covers every view of it. It is governance
	// metadata and not part of the view's definition hash.
	PII bool `json:"pii,omitempty"`
}

// Feature is one typed value a view produces.
type Feature struct {
	Name string `json:"name"`
	Kind Kind   `json:"kind"`
	// Dim is the length of a vector feature; 0 for other kinds.
	Dim         int    `json:"dim,omitempty"`
	Description string `json:"description,omitempty"`
}

// AggFunc is a windowed aggregation.
type AggFunc uint8

// The aggregations a view can compute over event-time windows.
const (
	Count AggFunc = iota + 1 // number of events (int)
	Sum                      // sum of the input (float)
	Mean                     // sum / count; null on an empty window
	Min                      // null on an empty window
	Max                      // null on an empty window
	Ratio                    // sum(Input) / sum(Denominator) (or / count); null when the denominator is 0
)

var aggNames = map[AggFunc]string{Count: "count", Sum: "sum", Mean: "mean", Min: "min", Max: "max", Ratio: "ratio"}

func (f AggFunc) String() string {
	if n, ok := aggNames[f]; ok {
		return n
	}
	return fmt.Sprintf("agg(%d)", uint8(f))
}

// Window is a sliding event-time window: for a value as of time t, the Length of time that
// ends Delay before t. Both are whole multiples of the view's Bucket; doc.go states exactly
// which events fall in.
type Window struct {
	Length time.Duration `json:"length"`
	Delay  time.Duration `json:"delay,omitempty"`
}

func (w Window) String() string {
	if w.Delay == 0 {
		return fmtDur(w.Length)
	}
	return fmtDur(w.Length) + " delayed " + fmtDur(w.Delay)
}

func fmtDur(d time.Duration) string {
	if d >= 24*time.Hour && d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// Aggregation defines one windowed feature of an aggregation view.
type Aggregation struct {
	// Name is the feature name ("tx_count_7d").
	Name string  `json:"name"`
	Func AggFunc `json:"func"`
	// Input names the numeric input field aggregated; empty for Count.
	Input string `json:"input,omitempty"`
	// Denominator names the input summed below the line of a Ratio; empty divides by count.
	Denominator string `json:"denominator,omitempty"`
	Window      Window `json:"window"`
}

// Event is what a transform reads: one immutable fact from the log.
type Event struct {
	ID   string
	Time time.Time // event time
	Seq  uint64    // position in the log; orders emissions that share an event time
	Data []byte
}

// Input is what a transform makes of an event for one view: the entity it is about and
// either the numeric fields an aggregation view aggregates or the typed values of a plain
// view's features.
type Input struct {
	Entity string
	Fields []float64 // aggregation views: one per FeatureView.Inputs, in that order
	Values []Value   // plain views: one per FeatureView.Features, in that order
}

// ErrSkip, returned by a transform, says the event does not concern this view.
var ErrSkip = errors.New("event skipped by transform")

// Transform turns an event into a view's input. The same function runs in the batch
// (offline) and the streaming (online) execution; it must depend on nothing but the event.
// It fills in (whose slices are sized for the view) and returns ErrSkip to ignore an event.
type Transform func(ev Event, in *Input) error

// FeatureView is a named group of features about one entity, computed by one transform,
// with one TTL. It is either a plain view (Features set: each event or row carries the
// values) or an aggregation view (Aggregations set: features are windows over Inputs).
type FeatureView struct {
	Name   string `json:"name"`
	Entity Entity `json:"entity"`
	// Features of a plain view. For an aggregation view the registry derives them from
	// Aggregations (count is int, everything else float).
	Features []Feature `json:"features"`
	// TTL: a value older than this at read time is Stale, and the point-in-time join does
	// not use it. 0 means forever.
	TTL time.Duration `json:"ttl"`
	// Source says where the events come from (a stream and subject, or a table).
	Source string `json:"source,omitempty"`
	// Inputs names the numeric fields the transform extracts for aggregations.
	Inputs       []string      `json:"inputs,omitempty"`
	Aggregations []Aggregation `json:"aggregations,omitempty"`
	// Bucket is the granularity of aggregation state; every window is a multiple of it.
	Bucket time.Duration `json:"bucket,omitempty"`
	// AllowedLateness: an event whose time is more than this before the newest event time
	// seen by the view is dropped (and counted). Within it, the event is applied and the
	// values it changes are emitted again.
	AllowedLateness time.Duration `json:"allowed_lateness,omitempty"`
	// Transform computes the input from an event. Views loaded from a manifest have none:
	// they can be read and materialized but not computed.
	Transform Transform `json:"-"`

	index map[string]int
}

// IsAggregation reports whether the view computes windows.
func (v *FeatureView) IsAggregation() bool { return len(v.Aggregations) > 0 }

// FeatureIndex returns the position of a feature in the view's rows.
func (v *FeatureView) FeatureIndex(name string) (int, error) {
	i, ok := v.index[name]
	if !ok {
		return 0, fmt.Errorf("view %q: %w %q (has %s)", v.Name, ErrUnknownFeature, name, strings.Join(v.FeatureNames(), ", "))
	}
	return i, nil
}

// FeatureNames lists the view's features in row order.
func (v *FeatureView) FeatureNames() []string {
	out := make([]string, len(v.Features))
	for i, f := range v.Features {
		out[i] = f.Name
	}
	return out
}

// MaxSpan is how far back from an as-of time the oldest window reaches.
func (v *FeatureView) MaxSpan() time.Duration {
	var m time.Duration
	for _, a := range v.Aggregations {
		m = max(m, a.Window.Length+a.Window.Delay)
	}
	return m
}

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

func checkName(what, name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("%s name %q must be lower case letters, digits and _ starting with a letter", what, name)
	}
	return nil
}

// compile validates the view and derives what the engine needs. It names every problem.
func (v *FeatureView) compile() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if err := checkName("view", v.Name); err != nil {
		errs = append(errs, err)
	}
	if err := checkName("entity", v.Entity.Name); err != nil {
		errs = append(errs, err)
	}
	if v.Entity.JoinKey == "" {
		add("entity %q has no join key", v.Entity.Name)
	}
	if v.TTL < 0 {
		add("TTL is negative: %v", v.TTL)
	}
	switch {
	case len(v.Aggregations) > 0 && len(v.Features) > 0 && !v.derived():
		add("a view has either Features or Aggregations, not both")
	case len(v.Aggregations) == 0 && len(v.Features) == 0:
		add("view defines no features")
	}
	if len(v.Aggregations) > 0 {
		errs = append(errs, v.compileAggregations()...)
	}
	seen := map[string]bool{}
	for _, f := range v.Features {
		if err := checkName("feature", f.Name); err != nil {
			errs = append(errs, err)
		}
		if seen[f.Name] {
			add("feature %q defined twice", f.Name)
		}
		seen[f.Name] = true
		if f.Kind == KindNull || f.Kind > KindVector {
			add("feature %q has no valid kind", f.Name)
		}
		if (f.Kind == KindVector) != (f.Dim > 0) {
			add("feature %q: a vector needs Dim > 0 and only a vector has one (kind %s, dim %d)", f.Name, f.Kind, f.Dim)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: view %q: %w", ErrInvalidDefinition, v.Name, err)
	}
	v.index = make(map[string]int, len(v.Features))
	for i, f := range v.Features {
		v.index[f.Name] = i
	}
	return nil
}

// derived reports whether Features were derived from Aggregations by an earlier compile.
func (v *FeatureView) derived() bool {
	if len(v.Features) != len(v.Aggregations) {
		return false
	}
	for i, a := range v.Aggregations {
		if v.Features[i].Name != a.Name {
			return false
		}
	}
	return true
}

func (v *FeatureView) compileAggregations() []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if v.Bucket <= 0 {
		add("aggregation view needs a positive Bucket, got %v", v.Bucket)
	}
	if v.AllowedLateness < 0 {
		add("AllowedLateness is negative: %v", v.AllowedLateness)
	}
	inputs := map[string]bool{}
	for _, in := range v.Inputs {
		if err := checkName("input", in); err != nil {
			errs = append(errs, err)
		}
		if inputs[in] {
			add("input %q declared twice", in)
		}
		inputs[in] = true
	}
	feats := make([]Feature, 0, len(v.Aggregations))
	for _, a := range v.Aggregations {
		if _, ok := aggNames[a.Func]; !ok {
			add("aggregation %q has no valid function", a.Name)
			continue
		}
		if a.Func == Count {
			if a.Input != "" {
				add("aggregation %q: count takes no input", a.Name)
			}
		} else if !inputs[a.Input] {
			add("aggregation %q: input %q is not among the view's inputs %v", a.Name, a.Input, v.Inputs)
		}
		if a.Denominator != "" && (a.Func != Ratio || !inputs[a.Denominator]) {
			add("aggregation %q: denominator %q needs func ratio and a declared input", a.Name, a.Denominator)
		}
		w := a.Window
		switch {
		case v.Bucket <= 0:
		case w.Length < v.Bucket:
			add("aggregation %q: window %v is shorter than the bucket %v", a.Name, w.Length, v.Bucket)
		case w.Length%v.Bucket != 0:
			add("aggregation %q: window %v is not a whole number of %v buckets", a.Name, w.Length, v.Bucket)
		}
		if w.Delay < 0 || (v.Bucket > 0 && w.Delay%v.Bucket != 0) {
			add("aggregation %q: delay %v must be a non-negative whole number of %v buckets", a.Name, w.Delay, v.Bucket)
		}
		kind := KindFloat
		if a.Func == Count {
			kind = KindInt
		}
		feats = append(feats, Feature{Name: a.Name, Kind: kind, Description: fmt.Sprintf("%s(%s) over %s", a.Func, a.Input, w)})
	}
	if len(errs) == 0 {
		v.Features = feats
	}
	return errs
}

// Hash is a short content hash of everything that changes a view's values or types.
func (v *FeatureView) Hash() string {
	var b strings.Builder
	v.canonical(&b)
	sum := sha256.Sum256([]byte(b.String()))
	return hex.EncodeToString(sum[:8])
}

func (v *FeatureView) canonical(b *strings.Builder) {
	fmt.Fprintf(b, "view %s entity %s/%s ttl %d bucket %d lateness %d inputs %v\n",
		v.Name, v.Entity.Name, v.Entity.JoinKey, v.TTL, v.Bucket, v.AllowedLateness, v.Inputs)
	for _, f := range v.Features {
		fmt.Fprintf(b, "  feature %s %s %d\n", f.Name, f.Kind, f.Dim)
	}
	for _, a := range v.Aggregations {
		fmt.Fprintf(b, "  agg %s %s %s/%s %d %d\n", a.Name, a.Func, a.Input, a.Denominator, a.Window.Length, a.Window.Delay)
	}
}

// Spec is a view without its transform: what the offline manifest records and the operator
// CLI lists.
func (v *FeatureView) Spec() FeatureView {
	s := *v
	s.Transform = nil
	s.index = nil
	return s
}

// MarshalText writes the function's name.
func (f AggFunc) MarshalText() ([]byte, error) { return []byte(f.String()), nil }

// UnmarshalText reads a function's name.
func (f *AggFunc) UnmarshalText(b []byte) error {
	for k, n := range aggNames {
		if n == string(b) {
			*f = k
			return nil
		}
	}
	return fmt.Errorf("%w: unknown aggregation %q", ErrInvalidDefinition, b)
}
