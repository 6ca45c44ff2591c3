// Package redis is the production features.OnlineStore: one Redis hash per view and
// entity, written by a compare-and-set script so that only newer rows land, and read with
// one pipelined round trip for any number of entities and views.
package redis

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/casebook-ml/casebook/platform/features"
)

var _ features.OnlineStore = (*Store)(nil)

// Config says where Redis is and how long to wait for it.
type Config struct {
	// Addr is host:port.
	Addr string
	// Prefix starts every key, so several stores can share a server.
	Prefix string
	// Timeout bounds every read and write, dialing included. When Redis does not answer
	// in time the call returns a *features.UnavailableError so callers can degrade.
	Timeout time.Duration
	// PoolSize is the number of connections kept.
	PoolSize int
	// MaxPipeline is how many commands go in one round trip when writing.
	MaxPipeline int
	// ExpireFactor sets each key's Redis expiry to this many TTLs after its last write, to
	// reclaim memory of entities that went away. Reads enforce the TTL exactly regardless;
	// after the expiry a value reads MISSING instead of STALE. 0 keeps keys forever.
	ExpireFactor int
	// Logger receives connection trouble; nil discards.
	Logger *slog.Logger
	// TLS, when set, connects with TLS using this configuration (RootCAs for a private
	// CA); nil connects in the clear.
	TLS *tls.Config
}

// DefaultConfig is a local Redis with a 100 ms budget.
func DefaultConfig() Config {
	return Config{Addr: "127.0.0.1:6379", Prefix: "cbf:", Timeout: 100 * time.Millisecond, PoolSize: 16, MaxPipeline: 1000, ExpireFactor: 2}
}

// Validate names every problem.
func (c Config) Validate() error {
	var errs []error
	if c.Addr == "" {
		errs = append(errs, errors.New("the address (Addr) is empty"))
	}
	if c.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("the timeout must be positive, got %v", c.Timeout))
	}
	if c.PoolSize < 1 {
		errs = append(errs, fmt.Errorf("PoolSize must be at least 1, got %d", c.PoolSize))
	}
	if c.MaxPipeline < 1 {
		errs = append(errs, fmt.Errorf("MaxPipeline must be at least 1, got %d", c.MaxPipeline))
	}
	if c.ExpireFactor < 0 {
		errs = append(errs, fmt.Errorf("ExpireFactor must not be negative, got %d", c.ExpireFactor))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: redis online store: %w", features.ErrInvalidConfig, err)
	}
	return nil
}

// The version field holds features.EncodeVersion(Time, Seq); string order is row order.
const versionField = "_v"

// writeScript stores a row only if it is newer than the stored one.
// KEYS[1] the hash; ARGV[1] version; ARGV[2] expiry in ms (0: none); ARGV[3..] field, value.
var writeScript = goredis.NewScript(`
local cur = redis.call('HGET', KEYS[1], '_v')
if cur and cur >= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], '_v', ARGV[1], unpack(ARGV, 3))
if tonumber(ARGV[2]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 1
`)

// Store is a features.OnlineStore on Redis. Safe for concurrent use.
type Store struct {
	cfg    Config
	reg    *features.Registry
	client *goredis.Client
	logger *slog.Logger
	name   string
}

// New connects lazily: it does not fail when Redis is down, reads and writes do.
func New(cfg Config, reg *features.Registry) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	client := goredis.NewClient(&goredis.Options{
		Addr:                  cfg.Addr,
		DialTimeout:           cfg.Timeout,
		ReadTimeout:           cfg.Timeout,
		WriteTimeout:          cfg.Timeout,
		PoolTimeout:           cfg.Timeout,
		PoolSize:              cfg.PoolSize,
		MaxRetries:            -1, // fail fast: the caller degrades, it does not wait
		ContextTimeoutEnabled: true,
		DisableIdentity:       true,
		Protocol:              2,
		TLSConfig:             tlsClone(cfg.TLS),
	})
	return &Store{cfg: cfg, reg: reg, client: client, logger: logger.With("component", "features/redis"), name: "redis " + cfg.Addr}, nil
}

func tlsClone(c *tls.Config) *tls.Config {
	if c == nil {
		return nil
	}
	return c.Clone()
}

// Client exposes the connection, for benchmarks that compare with raw pipelining.
func (s *Store) Client() *goredis.Client { return s.client }

// Key is the hash holding a view's values for an entity.
func (s *Store) Key(view, entity string) string { return s.cfg.Prefix + view + ":" + entity }

// Close closes the connections.
func (s *Store) Close() error { return s.client.Close() }

// unavailable turns a transport failure into the typed error; a reply error from Redis
// itself, or the caller's own cancellation, is returned as it is.
func (s *Store) unavailable(ctx context.Context, op string, err error) error {
	var rerr goredis.Error
	if errors.As(err, &rerr) && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("redis %s: %w", op, err)
	}
	if ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("redis %s: %w", op, ctx.Err())
	}
	return &features.UnavailableError{Store: s.name, Op: op, Err: err}
}

// Write stores rows newer than what Redis holds; see features.OnlineStore.
func (s *Store) Write(ctx context.Context, view string, rows []features.Row) (features.WriteStats, error) {
	var st features.WriteStats
	v, err := features.CheckRows(s.reg, view, rows)
	if err != nil {
		return st, err
	}
	if len(rows) == 0 {
		return st, nil
	}
	expire := s.expireMillis(v)
	for start := 0; start < len(rows); start += s.cfg.MaxPipeline {
		chunk := rows[start:min(len(rows), start+s.cfg.MaxPipeline)]
		n, err := s.writeChunk(ctx, v, chunk, expire, true)
		if err != nil {
			return st, err
		}
		st.Applied += n
		st.Ignored += len(chunk) - n
	}
	return st, nil
}

// Delete removes the entities' hashes of view in one round trip per MaxPipeline entities;
// see features.OnlineStore.
func (s *Store) Delete(ctx context.Context, view string, entities []string) (int, error) {
	if _, err := features.CheckDelete(s.reg, view, entities); err != nil {
		return 0, err
	}
	n := 0
	for start := 0; start < len(entities); start += s.cfg.MaxPipeline {
		chunk := entities[start:min(len(entities), start+s.cfg.MaxPipeline)]
		keys := make([]string, len(chunk))
		for i, e := range chunk {
			keys[i] = s.Key(view, e)
		}
		cctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
		d, err := s.client.Del(cctx, keys...).Result()
		cancel()
		if err != nil {
			return n, s.unavailable(ctx, "delete", err)
		}
		n += int(d)
	}
	return n, nil
}

func (s *Store) writeChunk(ctx context.Context, v *features.FeatureView, rows []features.Row, expire int64, retry bool) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	pipe := s.client.Pipeline()
	cmds := s.queueWrites(ctx, pipe, v, rows, expire)
	_, err := pipe.Exec(ctx)
	if err != nil && goredis.HasErrorPrefix(err, "NOSCRIPT") && retry {
		if lerr := writeScript.Load(ctx, s.client).Err(); lerr != nil {
			return 0, s.unavailable(ctx, "write", lerr)
		}
		return s.writeChunk(ctx, v, rows, expire, false)
	}
	if err != nil {
		return 0, s.unavailable(ctx, "write", err)
	}
	return applied(cmds), nil
}

// queueWrites adds one newest-wins script call per row to pipe.
func (s *Store) queueWrites(ctx context.Context, pipe goredis.Pipeliner, v *features.FeatureView, rows []features.Row, expire int64) []*goredis.Cmd {
	cmds := make([]*goredis.Cmd, len(rows))
	var buf []byte
	for i := range rows {
		r := &rows[i]
		args := make([]any, 0, 2+2*len(r.Values))
		args = append(args, features.EncodeVersion(r.Time, r.Seq), expire)
		for j, val := range r.Values {
			start := len(buf)
			buf = features.AppendValue(buf, val)
			args = append(args, v.Features[j].Name, buf[start:len(buf):len(buf)])
		}
		cmds[i] = writeScript.EvalSha(ctx, pipe, []string{s.Key(v.Name, r.Entity)}, args...)
	}
	return cmds
}

// applied counts the script calls that replaced a row.
func applied(cmds []*goredis.Cmd) int {
	n := 0
	for _, c := range cmds {
		if x, _ := c.Int(); x == 1 {
			n++
		}
	}
	return n
}

func (s *Store) expireMillis(v *features.FeatureView) int64 {
	if s.cfg.ExpireFactor > 0 && v.TTL > 0 {
		return (time.Duration(s.cfg.ExpireFactor) * v.TTL).Milliseconds()
	}
	return 0
}

// WriteRead implements features.WriteReader: the writes' script calls and the read's
// HMGETs go in one pipeline, which Redis runs in order, so the read sees the writes.
// Writes larger than MaxPipeline rows in total take the separate calls instead.
func (s *Store) WriteRead(ctx context.Context, writes []features.ViewRows, req features.ReadRequest) (*features.ReadResult, error) {
	views := make([]*features.FeatureView, len(writes))
	total := 0
	for i, w := range writes {
		v, err := features.CheckRows(s.reg, w.View, w.Rows)
		if err != nil {
			return nil, err
		}
		views[i] = v
		total += len(w.Rows)
	}
	rrs, at, err := features.PrepareRead(s.reg, req)
	if err != nil {
		return nil, err
	}
	if total > s.cfg.MaxPipeline {
		for _, w := range writes {
			if _, err := s.Write(ctx, w.View, w.Rows); err != nil {
				return nil, err
			}
		}
		return s.Read(ctx, req)
	}
	for retry := true; ; retry = false {
		rctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
		pipe := s.client.Pipeline()
		for i, w := range writes {
			s.queueWrites(rctx, pipe, views[i], w.Rows, s.expireMillis(views[i]))
		}
		cmds := s.queueRead(rctx, pipe, rrs)
		_, err := pipe.Exec(rctx)
		if err != nil && goredis.HasErrorPrefix(err, "NOSCRIPT") && retry {
			// The script cache was flushed: load it and run everything again (the writes
			// are newest-wins, so the ones that did run are not applied twice).
			lerr := writeScript.Load(rctx, s.client).Err()
			cancel()
			if lerr != nil {
				return nil, s.unavailable(ctx, "write", lerr)
			}
			continue
		}
		if err != nil {
			uerr := s.unavailable(rctx, "write+read", err)
			cancel()
			return nil, uerr
		}
		cancel()
		return s.readResult(rrs, at, cmds)
	}
}

func (s *Store) Read(ctx context.Context, req features.ReadRequest) (*features.ReadResult, error) {
	rrs, at, err := features.PrepareRead(s.reg, req)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	pipe := s.client.Pipeline()
	cmds := s.queueRead(ctx, pipe, rrs)
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, s.unavailable(ctx, "read", err)
	}
	return s.readResult(rrs, at, cmds)
}

// queueRead adds one HMGET per requested entity to pipe.
func (s *Store) queueRead(ctx context.Context, pipe goredis.Pipeliner, rrs []features.ResolvedRead) [][]*goredis.SliceCmd {
	cmds := make([][]*goredis.SliceCmd, len(rrs))
	for i := range rrs {
		rr := &rrs[i]
		fields := make([]string, 0, 1+len(rr.Names))
		fields = append(fields, versionField)
		fields = append(fields, rr.Names...)
		cmds[i] = make([]*goredis.SliceCmd, len(rr.Req.Entities))
		for e, ent := range rr.Req.Entities {
			cmds[i][e] = pipe.HMGet(ctx, s.Key(rr.View.Name, ent), fields...)
		}
	}
	return cmds
}

// readResult decodes the HMGET replies.
func (s *Store) readResult(rrs []features.ResolvedRead, at time.Time, cmds [][]*goredis.SliceCmd) (*features.ReadResult, error) {
	res := &features.ReadResult{At: at, Views: make([]features.ViewResult, len(rrs))}
	for i := range rrs {
		rr := &rrs[i]
		vr := rr.NewViewResult()
		nf := len(rr.Names)
		for e, cmd := range cmds[i] {
			vals := cmd.Val()
			ver, ok := vals[0].(string)
			if !ok {
				continue // no row: every feature MISSING
			}
			t, _, err := features.DecodeVersion(ver)
			if err != nil {
				return nil, fmt.Errorf("redis read %s: %w", s.Key(rr.View.Name, rr.Req.Entities[e]), err)
			}
			// The TTL rule of features.Resolve, applied once per row.
			stale := rr.View.TTL > 0 && at.Sub(t) > rr.View.TTL
			for j := range nf {
				fv := &vr.Values[e*nf+j]
				fv.Time = t
				if stale {
					fv.Status = features.Stale
					continue
				}
				raw, _ := vals[1+j].(string)
				if raw == "" {
					continue // MISSING: the row has no such field
				}
				val, err := features.DecodeValue(raw)
				if err != nil {
					return nil, fmt.Errorf("redis read %s field %s: %w", s.Key(rr.View.Name, rr.Req.Entities[e]), rr.Names[j], err)
				}
				if !val.IsNull() {
					fv.Value, fv.Status = val, features.Present
				}
			}
		}
		res.Views[i] = vr
	}
	return res, nil
}
