package predlog

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/casebook-ml/casebook/platform/eventlog"
)

// The subject scheme. Every record of one model goes to <prefix>.<model>, so a consumer
// filters by model with a subject and a stream captures all models with <prefix>.>.
const (
	PredictionSubjectPrefix = "predictions"
	OutcomeSubjectPrefix    = "outcomes"
)

// PredictionSubject is the subject a model's predictions are logged on.
func PredictionSubject(model string) string { return PredictionSubjectPrefix + "." + model }

// OutcomeSubject is the subject a model's outcomes (labels, clicks, chargebacks) arrive on.
func OutcomeSubject(model string) string { return OutcomeSubjectPrefix + "." + model }

// IsPrediction reports whether subject carries predictions.
func IsPrediction(subject string) bool {
	return strings.HasPrefix(subject, PredictionSubjectPrefix+".")
}

// IsOutcome reports whether subject carries outcomes.
func IsOutcome(subject string) bool { return strings.HasPrefix(subject, OutcomeSubjectPrefix+".") }

// The streams that hold them.
const (
	PredictionStream = "PREDICTIONS"
	OutcomeStream    = "OUTCOMES"
)

// DuplicatesWindow is how long the log remembers record ids to drop a retried publish.
// A retry comes within seconds (a publish times out after 5 s); the server keeps every id
// of the window in memory, and a model scoring 20,000 rows a second would make a 10-minute
// window 12 million ids.
const DuplicatesWindow = 2 * time.Minute

// Streams returns the stream configs for predictions and outcomes, keeping events for
// maxAge (zero: forever). Outcomes can arrive weeks after their prediction, so the
// prediction stream must keep at least the longest label delay.
func Streams(maxAge time.Duration) []eventlog.StreamConfig {
	return []eventlog.StreamConfig{
		StreamConfig(PredictionStream, PredictionSubjectPrefix, "Every scored request: id, model, version, features used, score.", maxAge),
		StreamConfig(OutcomeStream, OutcomeSubjectPrefix, "Outcomes joined to predictions by id: labels, clicks, chargebacks.", maxAge),
	}
}

// StreamConfig is the config of a stream named name holding prefix.>, with the
// duplicates window of the prediction log. Monitoring's alert stream is made with it too.
func StreamConfig(name, prefix, description string, maxAge time.Duration) eventlog.StreamConfig {
	return eventlog.StreamConfig{Name: name, Subjects: []string{prefix + ".>"}, Description: description, MaxAge: maxAge, Duplicates: DuplicatesWindow}
}

// EnsureStreams creates (or checks) the prediction and outcome streams.
func EnsureStreams(ctx context.Context, l *eventlog.Log, maxAge time.Duration) error {
	for _, sc := range Streams(maxAge) {
		if _, err := l.EnsureStream(ctx, sc); err != nil {
			return fmt.Errorf("prediction log streams: %w", err)
		}
	}
	return nil
}
