// Package adsload is the loadgen workload of the ad-auction case study: OpenRTB 2.6 bid
// requests drawn from adsranking/sim's world (users by their activity, placements by their
// share of traffic), POSTed to the bidder's /openrtb2/auction, and a Target that reads
// every answer so the report can say what the bidder did (bid, no-bid and why, refused,
// failed), not only how fast it did it.
//
// The request bodies are built and marshalled once, before the load starts, into a pool;
// each send copies one and writes a fresh request id into it. That keeps the generator's
// own cost per request to a copy and twenty digits, so building requests cannot disturb
// the open-loop schedule the way encoding JSON per request would.
package adsload

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/casebook-ml/casebook/adsranking/openrtb"
	"github.com/casebook-ml/casebook/adsranking/sim"
	"github.com/casebook-ml/casebook/loadgen"
)

// AuctionPath is where the bidder takes bid requests.
const AuctionPath = "/openrtb2/auction"

// MaxPool bounds the pre-built pool: at about 330 bytes a body, a million is ~330 MB, more
// than any run needs to look like real traffic.
const MaxPool = 1_000_000

// HourFromTraffic, as Config.Hour, draws each request's hour from sim.HourlyTraffic.
const HourFromTraffic = -1

// Config chooses the requests.
type Config struct {
	// Pool is how many distinct request bodies are built before the load starts; sends
	// draw from it with replacement (the run's --seed picks which).
	Pool int
	// Seed draws the pool: which users and placements, and the hours.
	Seed uint64
	// Tmax is the exchange's time budget in milliseconds, sent as the request's tmax; 0
	// leaves it out, so the bidder uses its own default. The bidder subtracts its margin
	// and answers "deadline exceeded" (nbr 504) when what is left is not enough.
	Tmax int
	// Hour is the simulated hour (0..23) every request is drawn at, or HourFromTraffic to
	// draw hours with sim.HourlyTraffic's diurnal shares. OpenRTB carries no hour and the
	// bidder reads the hour from its own clock, so today this changes only the sim.Request
	// each body is built from, not the body: it is kept so that the pool follows the
	// simulated day should the simulator ever let the hour shape a request.
	Hour int
	// FirstID is the number of the first request id sent ("r" and 20 digits); each send
	// takes the next. Runs with the same FirstID send the same ids, which keeps pacing's
	// coin flips (a hash of the id) reproducible; move it to keep two runs' auctions apart
	// in a log that deduplicates by request id.
	FirstID uint64
}

// DefaultConfig is a pool of 20,000 bodies from seed 0, tmax 50 ms (what sim.BidRequest
// sends), hours from sim.HourlyTraffic, ids from r1.
func DefaultConfig() Config {
	return Config{Pool: 20_000, Tmax: 50, Hour: HourFromTraffic, FirstID: 1}
}

// Validate checks the configuration.
func (c Config) Validate() error {
	if c.Pool < 1 || c.Pool > MaxPool {
		return fmt.Errorf("%w: ads pool = %d, want 1..%d", loadgen.ErrBadWorkload, c.Pool, MaxPool)
	}
	if c.Tmax < 0 || c.Tmax > openrtb.MaxTmax {
		return fmt.Errorf("%w: ads tmax = %d, want 0..%d ms (0 leaves it to the bidder)", loadgen.ErrBadWorkload, c.Tmax, openrtb.MaxTmax)
	}
	if c.Hour != HourFromTraffic && (c.Hour < 0 || c.Hour >= sim.Hours) {
		return fmt.Errorf("%w: ads hour = %d, want 0..%d (or leave it out to follow sim.HourlyTraffic)", loadgen.ErrBadWorkload, c.Hour, sim.Hours-1)
	}
	return nil
}

// SpecSyntax is the command line's form of an ads workload.
const SpecSyntax = "ads[:pool=N,seed=N,tmax=MS,hour=H,first-id=N]"

// IsSpec reports whether a --workload value names the ads workload.
func IsSpec(spec string) bool {
	kind, _, _ := strings.Cut(strings.TrimSpace(spec), ":")
	return kind == "ads"
}

// ParseSpec reads "ads" or "ads:key=value,..." (keys: pool, seed, tmax, hour, first-id);
// unnamed keys keep DefaultConfig's values.
func ParseSpec(spec string) (Config, error) {
	cfg := DefaultConfig()
	kind, args, _ := strings.Cut(strings.TrimSpace(spec), ":")
	if kind != "ads" {
		return cfg, fmt.Errorf("%w: %q is not an ads workload (want %s)", loadgen.ErrBadWorkload, spec, SpecSyntax)
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
		case "pool":
			cfg.Pool, err = strconv.Atoi(v)
		case "seed":
			cfg.Seed, err = strconv.ParseUint(v, 10, 64)
		case "tmax":
			cfg.Tmax, err = strconv.Atoi(v)
		case "hour":
			cfg.Hour, err = strconv.Atoi(v)
		case "first-id":
			cfg.FirstID, err = strconv.ParseUint(v, 10, 64)
		default:
			return cfg, fmt.Errorf("%w: %q: unknown key %q (want %s)", loadgen.ErrBadWorkload, spec, k, SpecSyntax)
		}
		if err != nil {
			return cfg, fmt.Errorf("%w: %q: %s=%q is not a number", loadgen.ErrBadWorkload, spec, k, v)
		}
	}
	return cfg, cfg.Validate()
}

// TargetURL turns --target into the auction URL. A base URL (http://HOST:PORT, or with a
// path prefix such as http://HOST:PORT/ads behind a proxy) gets AuctionPath appended; a
// URL whose path already ends in it is used as given.
func TargetURL(target string) (string, error) {
	if strings.Contains(target, "{{") {
		return "", fmt.Errorf("%w: the ads workload posts to one URL; --target must not hold a {{key}} template, got %q", loadgen.ErrInvalidConfig, target)
	}
	u, err := url.Parse(target)
	if err != nil {
		return "", fmt.Errorf("%w: --target %q: %w", loadgen.ErrInvalidConfig, target, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("%w: the ads workload sends HTTP requests; --target must be http://HOST:PORT, got %q", loadgen.ErrInvalidConfig, target)
	}
	if strings.HasSuffix(u.Path, AuctionPath) {
		return target, nil
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("%w: the ads workload appends %s to --target, which must be a base URL without a query, got %q", loadgen.ErrInvalidConfig, AuctionPath, target)
	}
	return strings.TrimSuffix(target, "/") + AuctionPath, nil
}

// The request id is written into each send's copy of a pooled body, at a fixed place and
// width: Marshal puts "id" first, and the pool holds idPlaceholder there. The bidder reads
// the number after the "r" (leading zeros and all) as the request's number for pacing.
const (
	idDigits      = 20 // the most a uint64 needs
	idPlaceholder = "r00000000000000000000"
	bodyPrefix    = `{"id":"` + idPlaceholder + `"`
	idOffset      = len(`{"id":"`)
	idLen         = len(idPlaceholder)
	// arenaChunk is the size of the blocks each send's copy is carved from, so that a
	// send costs an allocation only every ~200 requests.
	arenaChunk = 64 << 10
)

// Workload hands out bid requests: Body a pooled body with a fresh id, ID that id, Key
// the placement's tag id (the ad slot, which Target uses to check bids against the
// floors). It is not safe for concurrent use (the engine calls Next from one goroutine).
type Workload struct {
	cfg   Config
	world *sim.World
	// bodies holds the pool back to back; ends[i] is where body i ends. Pointer-free, so
	// the generator's garbage collector has nothing to scan here.
	bodies []byte
	ends   []uint32
	// place[i] is body i's placement, an index into tags and imps.
	place []uint16
	tags  []string
	// imps[p] is what bids on placement p are checked against: its slots' ids and floors.
	imps [][]openrtb.Imp
	// users is how many distinct users the pool holds; hours counts its bodies per hour.
	users int
	hours [sim.Hours]int
	// arena is the unused rest of the current block that send copies are carved from.
	arena []byte
	next  uint64
	sent  int64
}

var (
	_ loadgen.Workload  = (*Workload)(nil)
	_ loadgen.Annotator = (*Workload)(nil)
)

// New builds the simulator's world (sim.DefaultConfig, the world the bidder serves) and the
// pool of bodies. Both take a fraction of a second at the defaults.
func New(cfg Config) (*Workload, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	world, err := sim.New(sim.DefaultConfig())
	if err != nil {
		return nil, fmt.Errorf("ads workload: build the world: %w", err)
	}
	w := &Workload{cfg: cfg, world: world, next: cfg.FirstID,
		ends: make([]uint32, 0, cfg.Pool), place: make([]uint16, 0, cfg.Pool)}
	for _, p := range world.Placements {
		w.tags = append(w.tags, p.TagID)
		// The placement's imps are the same in every request for it; build them the way
		// the requests do, so the check cannot disagree with what was sent.
		req := world.BidRequest(sim.Request{User: 1, Placement: p.ID})
		w.imps = append(w.imps, req.Imp)
	}
	// Separate streams for users and placements, and for hours, so fixing the hour does
	// not change which users and placements the pool holds.
	reqRNG := rand.New(rand.NewPCG(cfg.Seed, 0x6164736c6f616401)) // "adsload" 1
	hourRNG := rand.New(rand.NewPCG(cfg.Seed, 0x6164736c6f616402))
	hourCDF := cumulative(sim.HourlyTraffic[:])
	seen := map[int64]struct{}{}
	for range cfg.Pool {
		hour := cfg.Hour
		if hour == HourFromTraffic {
			hour = draw(hourRNG, hourCDF)
		}
		r := world.RequestAt(reqRNG, 0, hour)
		req := world.BidRequest(r)
		req.ID, req.Tmax = idPlaceholder, cfg.Tmax
		body, err := openrtb.Marshal(req)
		if err != nil {
			return nil, fmt.Errorf("ads workload: request for user %d on placement %d: %w", r.User, r.Placement, err)
		}
		if !bytes.HasPrefix(body, []byte(bodyPrefix)) {
			return nil, fmt.Errorf("ads workload: a marshalled request starts %.40q, want %q: the id can no longer be rewritten in place", body, bodyPrefix)
		}
		if len(w.bodies)+len(body) > 1<<32-1 {
			return nil, fmt.Errorf("%w: ads pool of %d bodies exceeds 4 GiB", loadgen.ErrBadWorkload, cfg.Pool)
		}
		w.bodies = append(w.bodies, body...)
		w.ends = append(w.ends, uint32(len(w.bodies)))
		w.place = append(w.place, uint16(r.Placement))
		seen[r.User] = struct{}{}
		w.hours[hour]++
	}
	w.bodies = slices.Clip(w.bodies)
	w.users = len(seen)
	return w, nil
}

// Len is the number of bodies in the pool.
func (w *Workload) Len() int { return len(w.ends) }

// Body returns pooled body i as it was marshalled, with the id placeholder in place.
func (w *Workload) Body(i int) []byte {
	start := uint32(0)
	if i > 0 {
		start = w.ends[i-1]
	}
	return w.bodies[start:w.ends[i]:w.ends[i]]
}

// Next implements loadgen.Workload: a pooled body drawn uniformly with rng (the pool is
// already drawn by activity and share, so uniform draws keep those shapes), copied, with
// the next request id written in.
//
// The id is rewritten rather than reused because the bidder's pacing flips its coins on a
// hash of the request id: a resent body with its old id would get the same flips every
// time, so the pool's size would quietly shape pacing. Rewriting costs a copy of a few
// hundred bytes carved from a shared block, and one small string for Request.ID.
func (w *Workload) Next(rng *rand.Rand) loadgen.Request {
	i := rng.IntN(len(w.ends))
	src := w.Body(i)
	if len(w.arena) < len(src) {
		w.arena = make([]byte, max(arenaChunk, len(src)))
	}
	// The full slice expression caps the copy, so nothing appended to one body can run
	// into its neighbour; blocks are never reused, so bodies stay read-only once sent.
	body := w.arena[:len(src):len(src)]
	w.arena = w.arena[len(src):]
	copy(body, src)
	id := body[idOffset : idOffset+idLen]
	putID(id, w.next)
	w.next++
	w.sent++
	return loadgen.Request{Key: w.tags[w.place[i]], Body: body, ID: string(id)}
}

// putID writes "r" and n in idDigits zero-padded digits into dst (len idLen).
func putID(dst []byte, n uint64) {
	dst[0] = 'r'
	for i := idLen - 1; i > 0; i-- {
		dst[i] = byte('0' + n%10)
		n /= 10
	}
}

// FormatID is the request id the workload sends for number n.
func FormatID(n uint64) string {
	b := make([]byte, idLen)
	putID(b, n)
	return string(b)
}

// Imps returns what bids on the placement with tag id tag are checked against (the
// request's impressions: ids and floors), or nil for a tag the world does not have.
func (w *Workload) Imps(tag string) []openrtb.Imp {
	for p, t := range w.tags {
		if t == tag {
			return w.imps[p]
		}
	}
	return nil
}

// Tmax is the tmax the requests carry, in milliseconds (0: none).
func (w *Workload) Tmax() int { return w.cfg.Tmax }

func (w *Workload) String() string {
	c := w.cfg
	hours := "hours from sim.HourlyTraffic"
	if c.Hour != HourFromTraffic {
		hours = "hour " + strconv.Itoa(c.Hour)
	}
	tmax := "no tmax"
	if c.Tmax > 0 {
		tmax = "tmax " + strconv.Itoa(c.Tmax) + " ms"
	}
	return fmt.Sprintf("ads: OpenRTB bid requests from a pool of %d (seed %d, %s, %s), fresh ids from %s",
		c.Pool, c.Seed, hours, tmax, FormatID(c.FirstID))
}

// Notes implements loadgen.Annotator: what the pool held and which ids went out.
func (w *Workload) Notes() []string {
	notes := []string{fmt.Sprintf("ads workload: a pool of %d bodies over %d distinct users of %d and %d placements; sends draw from it uniformly with --seed, each with a fresh id",
		len(w.ends), w.users, len(w.world.Users), len(w.tags))}
	if w.cfg.Hour == HourFromTraffic {
		notes = append(notes, fmt.Sprintf("ads workload: pool hours follow sim.HourlyTraffic (peak hour %d holds %d bodies, trough hour %d %d), but OpenRTB carries no hour: the bidder uses its own clock",
			argmax(w.hours[:]), slices.Max(w.hours[:]), argmin(w.hours[:]), slices.Min(w.hours[:])))
	}
	if w.sent > 0 {
		notes = append(notes, fmt.Sprintf("ads workload: %d requests sent, ids %s..%s", w.sent, FormatID(w.cfg.FirstID), FormatID(w.next-1)))
	}
	return notes
}

func argmax(xs []int) int { return slices.Index(xs, slices.Max(xs)) }
func argmin(xs []int) int { return slices.Index(xs, slices.Min(xs)) }

// cumulative and draw mirror sim's own (unexported) hour draw, so the pool's hours have
// sim.Requests' shape.
func cumulative(w []float64) []float64 {
	c := make([]float64, len(w))
	sum := 0.0
	for i, x := range w {
		sum += x
		c[i] = sum
	}
	for i := range c {
		c[i] /= sum
	}
	return c
}

func draw(rng *rand.Rand, cdf []float64) int {
	i, _ := slices.BinarySearch(cdf, rng.Float64())
	return min(i, len(cdf)-1)
}
