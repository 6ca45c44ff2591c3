package loadgen

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
)

// Fixed sends the same body, with the same key, every time.
type Fixed struct {
	Key  string
	Body []byte
}

var _ Workload = Fixed{}

// Next implements Workload.
func (f Fixed) Next(*rand.Rand) Request { return Request{Key: f.Key, Body: f.Body} }

func (f Fixed) String() string { return fmt.Sprintf("fixed body (%d bytes)", len(f.Body)) }

// Zipf fills a body template with an entity id drawn with Zipf-skewed popularity: entity k
// (0 is the most popular) is chosen with probability proportional to 1/(k+1)^s. This is the
// shape of real traffic, where a few users, cards or items account for most requests, and
// what makes caches and hot partitions behave as they do in production.
//
// The template may contain {{key}} (the entity id, also the Request.Key) and {{seq}} (the
// request's sequence number).
type Zipf struct {
	parts    []string // template split around placeholders; odd indexes are placeholders
	cdf      []float64
	exponent float64
	seq      uint64
}

// MaxZipfEntities bounds the entity population, whose cumulative distribution is kept in memory.
const MaxZipfEntities = 10_000_000

// NewZipf returns a Zipf workload over entities ids with exponent s (s > 0; 1.1 is typical).
func NewZipf(template string, entities int, s float64) (*Zipf, error) {
	if entities < 1 || entities > MaxZipfEntities {
		return nil, fmt.Errorf("%w: zipf needs 1..%d entities, got %d", ErrBadWorkload, MaxZipfEntities, entities)
	}
	if !(s > 0) || s > 10 {
		return nil, fmt.Errorf("%w: zipf exponent must be in (0, 10], got %v", ErrBadWorkload, s)
	}
	cdf := make([]float64, entities)
	sum := 0.0
	for k := range cdf {
		sum += 1 / math.Pow(float64(k+1), s)
		cdf[k] = sum
	}
	for k := range cdf {
		cdf[k] /= sum
	}
	return &Zipf{parts: splitTemplate(template), cdf: cdf, exponent: s}, nil
}

var _ Workload = (*Zipf)(nil)

// Entity draws one entity id.
func (z *Zipf) Entity(rng *rand.Rand) int {
	u := rng.Float64()
	return min(sort.SearchFloat64s(z.cdf, u), len(z.cdf)-1)
}

// Next implements Workload.
func (z *Zipf) Next(rng *rand.Rand) Request {
	key := strconv.Itoa(z.Entity(rng))
	z.seq++
	var b []byte
	for i, p := range z.parts {
		switch {
		case i%2 == 0:
			b = append(b, p...)
		case p == "key":
			b = append(b, key...)
		case p == "seq":
			b = strconv.AppendUint(b, z.seq, 10)
		}
	}
	return Request{Key: key, Body: b}
}

func (z *Zipf) String() string {
	return fmt.Sprintf("zipf template over %d entities (s=%v)", len(z.cdf), z.exponent)
}

// splitTemplate splits s around {{name}} placeholders: even indexes hold literal text and
// odd ones the placeholder names.
func splitTemplate(s string) []string {
	var parts []string
	for {
		i := strings.Index(s, "{{")
		if i < 0 {
			break
		}
		j := strings.Index(s[i:], "}}")
		if j < 0 {
			break
		}
		parts = append(parts, s[:i], strings.TrimSpace(s[i+2:i+j]))
		s = s[i+j+2:]
	}
	return append(parts, s)
}

// OIP generates Open Inference Protocol (v2, the KServe/Triton REST shape) infer requests
// with one FP32 input of Features random values in [0, 1), the body the serving layer's
// /v2/models/NAME/infer endpoint takes.
type OIP struct {
	Features int
	// Input is the input tensor's name; "input" when empty.
	Input string
	seq   uint64
}

var _ Workload = (*OIP)(nil)

// MaxOIPFeatures bounds the request size.
const MaxOIPFeatures = 1 << 20

// NewOIP returns an OIP workload with n features.
func NewOIP(n int) (*OIP, error) {
	if n < 1 || n > MaxOIPFeatures {
		return nil, fmt.Errorf("%w: oip needs 1..%d features, got %d", ErrBadWorkload, MaxOIPFeatures, n)
	}
	return &OIP{Features: n}, nil
}

// Next implements Workload.
func (o *OIP) Next(rng *rand.Rand) Request {
	o.seq++
	name := o.Input
	if name == "" {
		name = "input"
	}
	id := strconv.FormatUint(o.seq, 10)
	b := make([]byte, 0, 96+len(name)+o.Features*12)
	b = append(b, `{"id":"`...)
	b = append(b, id...)
	b = append(b, `","inputs":[{"name":`...)
	b = strconv.AppendQuote(b, name)
	b = append(b, `,"shape":[1,`...)
	b = strconv.AppendInt(b, int64(o.Features), 10)
	b = append(b, `],"datatype":"FP32","data":[`...)
	for i := range o.Features {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendFloat(b, float64(rng.Float32()), 'g', 7, 32)
	}
	b = append(b, "]}]}"...)
	return Request{Key: id, Body: b}
}

func (o *OIP) String() string { return fmt.Sprintf("OIP v2 infer, %d FP32 features", o.Features) }

// ParseWorkload reads a workload from the command line's vocabulary:
//
//	fixed             body as given
//	zipf:N[:S]        body is a template; {{key}} is an entity id in 0..N-1 drawn with Zipf exponent S (default 1.1)
//	oip:N             an Open Inference Protocol infer request with N random FP32 features (body ignored)
func ParseWorkload(spec, body string) (Workload, error) {
	kind, arg, _ := strings.Cut(strings.TrimSpace(spec), ":")
	switch kind {
	case "", "fixed":
		if arg != "" {
			return nil, fmt.Errorf("%w: %q: fixed takes no argument; give the body with --body", ErrBadWorkload, spec)
		}
		return Fixed{Body: []byte(body)}, nil
	case "zipf":
		n, s, hasS := strings.Cut(arg, ":")
		entities, err := strconv.Atoi(n)
		if err != nil {
			return nil, fmt.Errorf("%w: %q: want zipf:ENTITIES[:EXPONENT], e.g. zipf:10000:1.1", ErrBadWorkload, spec)
		}
		exp := 1.1
		if hasS {
			if exp, err = strconv.ParseFloat(s, 64); err != nil {
				return nil, fmt.Errorf("%w: %q: exponent %q is not a number", ErrBadWorkload, spec, s)
			}
		}
		if body == "" {
			body = `{"entity_id":"{{key}}"}`
		}
		if !strings.Contains(body, "{{key}}") {
			return nil, fmt.Errorf("%w: %q: the body template has no {{key}} placeholder", ErrBadWorkload, spec)
		}
		return NewZipf(body, entities, exp)
	case "oip":
		n, err := strconv.Atoi(arg)
		if err != nil {
			return nil, fmt.Errorf("%w: %q: want oip:FEATURES, e.g. oip:32", ErrBadWorkload, spec)
		}
		return NewOIP(n)
	default:
		return nil, fmt.Errorf("%w: unknown workload %q (want fixed, zipf:N[:S] or oip:N)", ErrBadWorkload, spec)
	}
}
