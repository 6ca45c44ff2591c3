package server

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/casebook-ml/casebook/recsys/internal/recfeatures"
	"github.com/casebook-ml/casebook/recsys/internal/recommend"
)

// Query parameters the server itself reads; Config.ContextParams adds the ones passed
// through to the recommender.
const (
	paramK         = "k"
	paramDiversity = "diversity"
)

// parseRequest reads the {id} path variable and the raw query into a Request. It refuses
// what does not parse (errBadQuery); ranges are Request.Validate's job. The query is
// walked by hand rather than through url.ParseQuery, which builds a map and a slice per
// parameter on every request.
func (s *Server) parseRequest(id, rawQuery string) (recommend.Request, error) {
	user, err := parseUser(id)
	if err != nil {
		return recommend.Request{}, err
	}
	if s.cfg.Tokenizer != nil {
		user = s.cfg.Tokenizer.Int53(recfeatures.UserField, user)
	}
	req := recommend.Request{User: user, K: s.cfg.DefaultK}
	var seenK, seenDiversity bool
	for rawQuery != "" {
		var pair string
		pair, rawQuery, _ = strings.Cut(rawQuery, "&")
		if pair == "" {
			continue
		}
		if strings.Contains(pair, ";") {
			return req, fmt.Errorf("%w: query %q: ';' is not a separator, use '&'", errBadQuery, pair)
		}
		rk, rv, _ := strings.Cut(pair, "=")
		key, err := unescape(rk)
		if err != nil {
			return req, fmt.Errorf("%w: query parameter %q: %v", errBadQuery, rk, err)
		}
		value, err := unescape(rv)
		if err != nil {
			return req, fmt.Errorf("%w: query parameter %s=%q: %v", errBadQuery, key, rv, err)
		}
		switch key {
		case paramK:
			if seenK {
				return req, fmt.Errorf("%w: k is given more than once", errBadQuery)
			}
			seenK = true
			n, err := strconv.Atoi(value)
			if err != nil {
				return req, fmt.Errorf("%w: k = %q, want an integer in 1..%d", errBadQuery, value, recommend.MaxK)
			}
			req.K = n
		case paramDiversity:
			if seenDiversity {
				return req, fmt.Errorf("%w: diversity is given more than once", errBadQuery)
			}
			seenDiversity = true
			f, err := strconv.ParseFloat(value, 64)
			if err != nil {
				return req, fmt.Errorf("%w: diversity = %q, want a number in [0, 1]", errBadQuery, value)
			}
			req.Diversity = f
		default:
			if !slices.Contains(s.cfg.ContextParams, key) {
				return req, fmt.Errorf("%w: unknown query parameter %q (want %s)", errBadQuery, key, s.paramList)
			}
			if req.Context == nil {
				req.Context = make(map[string]string, len(s.cfg.ContextParams))
			}
			if _, dup := req.Context[key]; dup {
				return req, fmt.Errorf("%w: %s is given more than once (use one comma-separated value)", errBadQuery, key)
			}
			req.Context[key] = value
		}
	}
	return req, nil
}

// parseUser reads a user id: decimal digits only (no sign, no spaces), within int64.
func parseUser(id string) (int64, error) {
	if id == "" || strings.TrimLeft(id, "0123456789") != "" {
		return 0, fmt.Errorf("%w: user id %q, want a non-negative integer", errBadQuery, id)
	}
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: user id %q is out of range", errBadQuery, id)
	}
	return n, nil
}

// unescape decodes a query component; only one that needs decoding allocates.
func unescape(v string) (string, error) {
	if !strings.ContainsAny(v, "%+") {
		return v, nil
	}
	return url.QueryUnescape(v)
}
