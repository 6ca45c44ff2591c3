// Package recsysload is the loadgen Workload of the recommender case study: GET
// /v1/users/{id}/recommendations?k=K for user ids drawn with Zipf-skewed popularity, the
// way a few heavy users dominate real traffic.
package recsysload

import (
	"fmt"
	"math/rand/v2"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/casebook-ml/casebook/loadgen"
)

// MaxK mirrors the recommender's own limit (recsys/internal/recommend.MaxK): a larger k
// would make every request a 400.
const MaxK = 100

// Config chooses the user population and the request.
type Config struct {
	// Users is the population: ids 1..Users, as MovieLens numbers its users.
	Users int
	// Exponent is the Zipf exponent s: the r-th most popular user is asked about with
	// probability proportional to 1/r^s.
	Exponent float64
	// K is the number of recommendations each request asks for.
	K int
	// Seed shuffles which ids are the popular ones (seeded, so every run agrees): without
	// it the heavy users would be exactly the lowest ids, which in MovieLens are not
	// special, and a cache or index laid out by id would look better than it is.
	Seed uint64
}

// DefaultConfig is MovieLens 100K's 943 users, s = 1.1, k = 10, seed 0.
func DefaultConfig() Config { return Config{Users: 943, Exponent: 1.1, K: 10} }

// Validate checks the configuration.
func (c Config) Validate() error {
	if c.Users < 1 || c.Users > loadgen.MaxZipfEntities {
		return fmt.Errorf("%w: recsys users = %d, want 1..%d", loadgen.ErrBadWorkload, c.Users, loadgen.MaxZipfEntities)
	}
	if !(c.Exponent > 0) || c.Exponent > 10 {
		return fmt.Errorf("%w: recsys exponent = %v, want in (0, 10]", loadgen.ErrBadWorkload, c.Exponent)
	}
	if c.K < 1 || c.K > MaxK {
		return fmt.Errorf("%w: recsys k = %d, want 1..%d (the recommender's limit)", loadgen.ErrBadWorkload, c.K, MaxK)
	}
	return nil
}

// Path is the request path and query, with the user id as the {{key}} placeholder
// httptarget fills in.
func (c Config) Path() string {
	return "/v1/users/{{key}}/recommendations?k=" + strconv.Itoa(c.K)
}

// TargetURL turns --target into the URL template requests go to. A base URL
// (http://HOST:PORT, or with a path prefix such as http://HOST:PORT/recsys for a server
// behind a proxy) gets Path appended; a URL that already holds {{key}} is used as given,
// for a server whose routes differ.
func (c Config) TargetURL(target string) (string, error) {
	if strings.Contains(target, "{{key}}") {
		return target, nil
	}
	u, err := url.Parse(target)
	if err != nil {
		return "", fmt.Errorf("%w: --target %q: %v", loadgen.ErrInvalidConfig, target, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("%w: the recsys workload sends HTTP requests; --target must be http://HOST:PORT, got %q", loadgen.ErrInvalidConfig, target)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("%w: the recsys workload appends %s to --target, which must be a base URL without a query, got %q", loadgen.ErrInvalidConfig, c.Path(), target)
	}
	return strings.TrimSuffix(target, "/") + c.Path(), nil
}

// SpecSyntax is the command line's form of a recsys workload.
const SpecSyntax = "recsys[:users=N,exponent=S,k=K,seed=N]"

// IsSpec reports whether a --workload value names the recsys workload.
func IsSpec(spec string) bool {
	kind, _, _ := strings.Cut(strings.TrimSpace(spec), ":")
	return kind == "recsys"
}

// ParseSpec reads "recsys" or "recsys:key=value,..." (keys: users, exponent, k, seed);
// unnamed keys keep DefaultConfig's values.
func ParseSpec(spec string) (Config, error) {
	cfg := DefaultConfig()
	kind, args, _ := strings.Cut(strings.TrimSpace(spec), ":")
	if kind != "recsys" {
		return cfg, fmt.Errorf("%w: %q is not a recsys workload (want %s)", loadgen.ErrBadWorkload, spec, SpecSyntax)
	}
	for _, kv := range strings.Split(args, ",") {
		if strings.TrimSpace(kv) == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok {
			return cfg, fmt.Errorf("%w: %q: %q is not key=value (want %s)", loadgen.ErrBadWorkload, spec, kv, SpecSyntax)
		}
		var err error
		switch k {
		case "users":
			cfg.Users, err = strconv.Atoi(v)
		case "exponent":
			cfg.Exponent, err = strconv.ParseFloat(v, 64)
		case "k":
			cfg.K, err = strconv.Atoi(v)
		case "seed":
			cfg.Seed, err = strconv.ParseUint(v, 10, 64)
		default:
			return cfg, fmt.Errorf("%w: %q: unknown key %q (want %s)", loadgen.ErrBadWorkload, spec, k, SpecSyntax)
		}
		if err != nil {
			return cfg, fmt.Errorf("%w: %q: %s=%q is not a number", loadgen.ErrBadWorkload, spec, k, v)
		}
	}
	return cfg, cfg.Validate()
}

// Workload hands out one request per user draw: Key is the user id, Body empty (a GET).
// It is not safe for concurrent use (the engine calls Next from one goroutine).
type Workload struct {
	cfg  Config
	zipf *loadgen.Zipf
	// ids[r] is the user id of popularity rank r (0 the most popular): 1..Users shuffled.
	// Pointer-free, so the generator's garbage collector has nothing to scan here.
	ids []int32
	// hits counts the requests per rank, for the report's notes.
	hits []uint32
	sent int64
}

var (
	_ loadgen.Workload  = (*Workload)(nil)
	_ loadgen.Annotator = (*Workload)(nil)
)

// New builds the workload: the Zipf distribution over Users ranks and the seeded
// assignment of ids to ranks.
func New(cfg Config) (*Workload, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	z, err := loadgen.NewZipf("", cfg.Users, cfg.Exponent)
	if err != nil {
		return nil, err
	}
	ids := make([]int32, cfg.Users)
	for i := range ids {
		ids[i] = int32(i + 1)
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x7265637379730000)) // "recsys"
	rng.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	return &Workload{cfg: cfg, zipf: z, ids: ids, hits: make([]uint32, cfg.Users)}, nil
}

// Next implements loadgen.Workload.
func (w *Workload) Next(rng *rand.Rand) loadgen.Request {
	r := w.zipf.Entity(rng)
	w.hits[r]++
	w.sent++
	return loadgen.Request{Key: strconv.Itoa(int(w.ids[r]))}
}

// User returns the id of popularity rank r (0 the most popular).
func (w *Workload) User(rank int) int64 { return int64(w.ids[rank]) }

func (w *Workload) String() string {
	c := w.cfg
	return fmt.Sprintf("recsys: k=%d for users 1..%d drawn Zipf s=%v (popularity order shuffled, seed %d)", c.K, c.Users, c.Exponent, c.Seed)
}

// Notes implements loadgen.Annotator: how skewed the users actually sent were.
func (w *Workload) Notes() []string {
	if w.sent == 0 {
		return nil
	}
	distinct, top := 0, slices.Max(w.hits)
	for _, h := range w.hits {
		if h > 0 {
			distinct++
		}
	}
	return []string{fmt.Sprintf("recsys workload: %d requests over %d distinct users of %d; the most requested (user %d) got %.1f%%",
		w.sent, distinct, w.cfg.Users, w.ids[slices.Index(w.hits, top)], 100*float64(top)/float64(w.sent))}
}
