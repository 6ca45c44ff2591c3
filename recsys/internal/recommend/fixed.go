package recommend

import "context"

// Fixed answers every valid request with the same items (the first K): the floor of the
// request path, for measuring what the HTTP layer costs without any recommendation work.
type Fixed struct{ Items []Item }

var _ Recommender = Fixed{}

// Recommend implements Recommender.
func (f Fixed) Recommend(_ context.Context, req Request) (Response, error) {
	if err := req.Validate(); err != nil {
		return Response{}, err
	}
	return Response{User: req.User, Items: f.Items[:min(req.K, len(f.Items))], Path: "noop"}, nil
}
