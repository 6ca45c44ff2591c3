package stream

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/casebook-ml/casebook/fraud/internal/txfeatures"
	"github.com/casebook-ml/casebook/platform/serving"
)

// ErrNoModel says the serving layer answered only from its last-resort default: there is
// no model behind the score, so the scorer's rules decide instead.
var ErrNoModel = errors.New("serving answered without a model")

// Served scores through a serving.Server in this process. In process, not over HTTP: the
// scorer and the server share the machine's two cores, and HTTP would add JSON encoding
// and a loopback hop per batch for no isolation the case study needs. `fraud stream` does
// not expose the server's OIP endpoint; callers outside score a transaction through
// ScoreAPI, which decides it in the stream. The server's prediction log (when configured)
// records every row under its transaction id, which is what the monitoring joins
// chargebacks to.
type Served struct {
	Server *serving.Server
	Name   string
}

// ScoreBatch implements Model: one Infer call for the whole batch.
func (s Served) ScoreBatch(ctx context.Context, ids []string, at []time.Time, x, out []float64) (int, string, error) {
	if len(x) != len(ids)*txfeatures.Width || len(out) != len(ids) {
		return 0, "", fmt.Errorf("serving: %d values and %d outputs for %d rows", len(x), len(out), len(ids))
	}
	res, err := s.Server.Infer(ctx, serving.Request{Model: s.Name, Decoded: serving.Decoded{Rows: len(ids), X: x, RowIDs: ids, RowTimes: at}})
	if err != nil {
		return 0, "", fmt.Errorf("serving: %w", err)
	}
	if res.Path == serving.PathDefault || res.Path == serving.PathHeuristic {
		return res.Version, res.Path, fmt.Errorf("%w (path %s)", ErrNoModel, res.Path)
	}
	copy(out, res.Scores)
	return res.Version, res.Path, nil
}
