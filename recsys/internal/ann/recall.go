package ann

import (
	"context"
	"fmt"
)

// Recall is the mean, over queries, of the fraction of the exact top k (by truth) that
// idx's top k contains: recall@k, the number every approximate index is gated on.
func Recall(ctx context.Context, idx Index, truth *Exact, queries [][]float32, k int) (float64, error) {
	gt, err := GroundTruth(ctx, truth, queries, k)
	if err != nil {
		return 0, err
	}
	return RecallAgainst(ctx, idx, gt, queries, k)
}

// GroundTruth is the exact top k of every query, computed once so that several indexes
// or several ef settings can be scored against it with RecallAgainst.
func GroundTruth(ctx context.Context, truth *Exact, queries [][]float32, k int) ([][]Result, error) {
	if truth == nil {
		return nil, fmt.Errorf("%w: ground truth: no exact index", ErrInvalidArgument)
	}
	if k <= 0 || len(queries) == 0 {
		return nil, fmt.Errorf("%w: ground truth: k %d over %d queries", ErrInvalidArgument, k, len(queries))
	}
	if truth.Len() == 0 {
		return nil, fmt.Errorf("%w: ground truth: the exact index is empty", ErrInvalidArgument)
	}
	gt := make([][]Result, len(queries))
	for i, q := range queries {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("ground truth: %w", err)
		}
		if err := checkVector(truth.Dim(), q); err != nil {
			return nil, fmt.Errorf("ground truth: query %d: %w", i, err)
		}
		gt[i] = truth.Search(q, k, nil)
		if len(gt[i]) == 0 {
			return nil, fmt.Errorf("ground truth: query %d: %w", i, ErrInvalidVector)
		}
	}
	return gt, nil
}

// RecallAgainst is Recall with the exact answers already computed (by GroundTruth with the
// same queries and k).
func RecallAgainst(ctx context.Context, idx Index, gt [][]Result, queries [][]float32, k int) (float64, error) {
	if len(gt) != len(queries) || k <= 0 || len(queries) == 0 {
		return 0, fmt.Errorf("%w: recall: %d exact answers for %d queries, k %d", ErrInvalidArgument, len(gt), len(queries), k)
	}
	var sum float64
	var got []Result
	for i, q := range queries {
		if err := ctx.Err(); err != nil {
			return 0, fmt.Errorf("recall: %w", err)
		}
		if err := checkVector(idx.Dim(), q); err != nil {
			return 0, fmt.Errorf("recall: query %d: %w", i, err)
		}
		got = idx.Search(q, k, got[:0])
		sum += overlap(gt[i], got, k)
	}
	return sum / float64(len(queries)), nil
}

// overlap is the fraction of want's first k ids found in got's first k.
func overlap(want, got []Result, k int) float64 {
	want = want[:min(k, len(want))]
	got = got[:min(k, len(got))]
	if len(want) == 0 {
		return 1
	}
	hit := 0
	for _, w := range want {
		for _, g := range got {
			if g.ID == w.ID {
				hit++
				break
			}
		}
	}
	return float64(hit) / float64(len(want))
}
