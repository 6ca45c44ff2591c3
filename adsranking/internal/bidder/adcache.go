package bidder

import (
	"sync"
	"sync/atomic"

	"github.com/casebook-ml/casebook/adsranking/internal/ctr"
	"github.com/casebook-ml/casebook/adsranking/internal/inventory"
	"github.com/casebook-ml/casebook/platform/ml"
)

// adParts holds, per ad position of one inventory snapshot, the click model's terms of
// the ad's own fields (ml.FM.Partial): scoring a candidate is then one short dot product
// against the request's context instead of hashing five fields and reading five rows of
// the embedding table. It is exact. It is rebuilt, off the request path, when the model or
// the inventory changes; until then requests use the previous one where it applies and
// score the rest directly.
type adParts struct {
	fm      *ml.FM
	version uint64
	width   int
	parts   []float64
	// ads holds, per position, what the scoring loop reads of each ad of the snapshot
	// the cache was built from, packed densely (24 bytes against the snapshot's 56-byte
	// records): valid only for that snapshot version (see dense).
	ads []adRec
}

type adRec struct {
	campaign     int64
	cpc, quality float64
}

// dense reports whether the cache was built for fm and exactly this snapshot, so that its
// ad records are the snapshot's.
func (p *adParts) dense(fm *ml.FM, snap *inventory.Snapshot) bool {
	return p != nil && p.fm == fm && p.version == snap.Version() && len(p.ads) == len(snap.Ads())
}

// get returns the partial of the ad at position i, if this cache has it for fm.
func (p *adParts) get(fm *ml.FM, i int32) ([]float64, bool) {
	if p == nil || p.fm != fm {
		return nil, false
	}
	at := int(i) * p.width
	if at+p.width > len(p.parts) {
		return nil, false
	}
	return p.parts[at : at+p.width], true
}

type adCache struct {
	cur      atomic.Pointer[adParts]
	building atomic.Bool
	wg       sync.WaitGroup
}

// lookup returns the cache to use for m and snap, starting a rebuild in the background
// when it is out of date.
func (c *adCache) lookup(fm *ml.FM, snap *inventory.Snapshot) *adParts {
	p := c.cur.Load()
	if p != nil && p.fm == fm && p.version == snap.Version() {
		return p
	}
	if c.building.CompareAndSwap(false, true) {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			defer c.building.Store(false)
			c.cur.Store(buildParts(fm, snap))
		}()
	}
	return p
}

// wait blocks until a rebuild in progress is done (tests, and SetModel's warm-up).
func (c *adCache) wait() { c.wg.Wait() }

func buildParts(fm *ml.FM, snap *inventory.Snapshot) *adParts {
	p := &adParts{fm: fm, version: snap.Version(), width: fm.PartialWidth()}
	p.parts = make([]float64, 0, len(snap.Ads())*p.width)
	row := make([]float64, 0, ctr.NumAdFields)
	p.ads = make([]adRec, len(snap.Ads()))
	for i := range snap.Ads() {
		a := snap.Ad(int32(i))
		p.ads[i] = adRec{campaign: a.Campaign, cpc: a.CPC, quality: a.Quality}
		row = ctr.AdRow(a, row[:0])
		var err error
		if p.parts, err = fm.Partial(len(ctr.Schema.Features)-ctr.NumAdFields, row, p.parts); err != nil {
			return nil // the schema was checked when the model was set; cannot happen
		}
	}
	return p
}
