package server_test

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/casebook-ml/casebook/platform/privacy/pii"
	"github.com/casebook-ml/casebook/recsys/internal/recfeatures"
	"github.com/casebook-ml/casebook/recsys/internal/server"
)

// With a Tokenizer the recommender sees the token of the path's id, never the id, and a
// failure's log line names the token: the raw id stops at the handler.
func TestHandlerTokenizesUserID(t *testing.T) {
	tok, err := pii.NewEphemeral()
	if err != nil {
		t.Fatal(err)
	}
	const raw = 9876543210123
	rec := &fakeRecommender{resp: threeItems()}
	f := newFixture(t, rec, func(c *server.Config) { c.Tokenizer = tok })
	if code, _, body := f.do(t, http.MethodGet, "/v1/users/"+strconv.Itoa(raw)+"/recommendations?k=3"); code != http.StatusOK {
		t.Fatalf("status %d: %s", code, body)
	}
	want := tok.Int53(recfeatures.UserField, raw)
	if got := rec.requests(); len(got) != 1 || got[0].User != want {
		t.Fatalf("recommender asked for %+v, want user %d (the token of %d)", got, want, raw)
	}

	rec.err = errors.New("boom")
	if code, _, _ := f.do(t, http.MethodGet, "/v1/users/"+strconv.Itoa(raw)+"/recommendations"); code != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500", code)
	}
	logs := f.logs.String()
	if !strings.Contains(logs, strconv.FormatInt(want, 10)) || strings.Contains(logs, strconv.Itoa(raw)) {
		t.Errorf("the failure's log line should name the token %d and not the id %d:\n%s", want, raw, logs)
	}
}
