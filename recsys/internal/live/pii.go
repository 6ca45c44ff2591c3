package live

import (
	"github.com/casebook-ml/casebook/platform/privacy/pii"
	"github.com/casebook-ml/casebook/recsys/internal/ratings"
	"github.com/casebook-ml/casebook/recsys/internal/recfeatures"
)

// TokenizeRatings returns a copy of rs with every user id replaced by its integer keyed-hash
// token, tok.Int53(recfeatures.UserField, id). It is the ingestion boundary of the batch path:
// what train.Fit builds from its output (embeddings keyed by user, histories, the offline
// feature table, the registry's artifacts and fingerprints) holds tokens, never a raw user
// id. The token keeps the id an int64 below 2⁵³ (Int53: the models' schemas carry ids through
// float64), so training and serving are unchanged, and it is
// deterministic, so a user's ratings still meet and a request tokenized at the HTTP handler
// under the same key finds them. Item ids are a catalogue's, not a person's, and are kept.
func TokenizeRatings(tok *pii.Tokenizer, rs []ratings.Rating) []ratings.Rating {
	out := make([]ratings.Rating, len(rs))
	memo := map[int64]int64{}
	for i, r := range rs {
		u, ok := memo[r.User]
		if !ok {
			u = tok.Int53(recfeatures.UserField, r.User)
			memo[r.User] = u
		}
		r.User = u
		out[i] = r
	}
	return out
}

// TokenizeInteractions returns a copy of ins with every user id tokenized as TokenizeRatings
// does: the live path's clicks, before they reach the histories or the online store.
func TokenizeInteractions(tok *pii.Tokenizer, ins []recfeatures.Interaction) []recfeatures.Interaction {
	out := make([]recfeatures.Interaction, len(ins))
	for i, in := range ins {
		in.User = tok.Int53(recfeatures.UserField, in.User)
		out[i] = in
	}
	return out
}
