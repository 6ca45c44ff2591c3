package bidder

import (
	"context"
	"fmt"

	"github.com/casebook-ml/casebook/adsranking/internal/profiles"
)

// Prefetch reads the profiles of the given users from the store into the profile cache
// ahead of their requests (say, the users of a user-sync feed or of an exchange's
// announced traffic): a request that takes the ladder's cached-features step finds them
// there, and a bidder whose ladder takes that step at once (Ladder.CachedFeatures near 0)
// serves every request from the cache with no store read on the request path. It returns
// how many profiles the store had; a failed read stops it.
func (b *Bidder) Prefetch(ctx context.Context, userIDs []string) (int, error) {
	w := b.work()
	defer b.pool.Put(w)
	found := 0
	for _, id := range userIDs {
		key := id
		if b.tok != nil {
			key = b.tok.Token(profiles.UserField, key)
		}
		p, ok, err := w.reader.Get(ctx, key, b.clock())
		if err != nil {
			return found, fmt.Errorf("prefetch: %w", err)
		}
		if ok {
			b.cache.put(key, p)
			found++
		}
	}
	return found, nil
}
