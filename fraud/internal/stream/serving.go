package stream

import (
	"context"
	"errors"
	"fmt"

	"github.com/casebook-ml/casebook/platform/serving"
)

// ErrNoModel says the serving layer answered only from its last-resort default: there is
// no model behind the score, so the scorer's rules decide instead.
var ErrNoModel = errors.New("serving answered without a model")

// Served scores through a serving.Server in this process. In process, not over HTTP: the
// scorer and the server share the machine's two cores, and HTTP would add JSON encoding
// and a loopback hop per batch for no isolation the case study needs; the OIP endpoint of
// the same server stays available to other callers.
type Served struct {
	Server *serving.Server
	Name   string
}

// Score implements Model.
func (s Served) Score(ctx context.Context, x []float64) (float64, int, string, error) {
	res, err := s.Server.Infer(ctx, serving.Request{Model: s.Name, Decoded: serving.Decoded{Rows: 1, X: x}})
	if err != nil {
		return 0, 0, "", fmt.Errorf("serving: %w", err)
	}
	if res.Path == serving.PathDefault || res.Path == serving.PathHeuristic {
		return 0, res.Version, res.Path, fmt.Errorf("%w (path %s)", ErrNoModel, res.Path)
	}
	return res.Scores[0], res.Version, res.Path, nil
}
