package federated

import (
	"crypto/ecdh"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	mrand "math/rand/v2"
)

// Scale is the fixed-point scale of secure aggregation: a float v travels as round(v·Scale)
// in the ring of integers mod 2^64, where masks cancel exactly. |Σ v| must stay below
// 2^63/Scale ≈ 8.8e12.
const Scale = 1 << 20

// Encode maps floats into the ring.
func Encode(v []float64) []uint64 {
	out := make([]uint64, len(v))
	for i, x := range v {
		out[i] = uint64(int64(math.Round(x * Scale)))
	}
	return out
}

// Decode maps ring elements back to floats (as signed values).
func Decode(v []uint64) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(int64(x)) / Scale
	}
	return out
}

// Seed is a secret two clients share and the server does not: the hash of their X25519
// shared secret.
type Seed [32]byte

// Party is one client's side of secure aggregation (Bonawitz et al. 2017, simplified for an
// honest-but-curious server and without secret-sharing its own key: a dropped client's masks
// are removed by the survivors revealing their seeds with it).
type Party struct {
	ID   int
	key  *ecdh.PrivateKey
	seed map[int]Seed // by peer id
}

// NewParty makes a client with a fresh X25519 key.
func NewParty(id int) (*Party, error) {
	k, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("secagg: key for client %d: %w", id, err)
	}
	return &Party{ID: id, key: k, seed: map[int]Seed{}}, nil
}

// PublicKey is what the client sends the server to pass on to the others (32 bytes).
func (p *Party) PublicKey() []byte { return p.key.PublicKey().Bytes() }

// Agree derives the pairwise seeds with every peer from their public keys.
func (p *Party) Agree(peers map[int][]byte) error {
	for id, raw := range peers {
		if id == p.ID {
			continue
		}
		pub, err := ecdh.X25519().NewPublicKey(raw)
		if err != nil {
			return fmt.Errorf("secagg: client %d's public key: %w", id, err)
		}
		shared, err := p.key.ECDH(pub)
		if err != nil {
			return fmt.Errorf("secagg: agree with client %d: %w", id, err)
		}
		p.seed[id] = Seed(sha256.Sum256(append([]byte("casebook/secagg/v1\n"), shared...)))
	}
	return nil
}

// mask expands a pair's seed into the round's mask vector with ChaCha8.
func mask(s Seed, round, n int) []uint64 {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(round))
	rs := sha256.Sum256(append(s[:], b[:]...))
	prg := mrand.NewChaCha8(rs)
	out := make([]uint64, n)
	for i := range out {
		out[i] = prg.Uint64()
	}
	return out
}

// Mask hides v (already encoded) for one round: for every peer j it adds the pair's mask
// when ID < j and subtracts it when ID > j, so over all clients the masks sum to zero.
func (p *Party) Mask(round int, v []uint64) []uint64 {
	out := append([]uint64(nil), v...)
	for j, s := range p.seed {
		m := mask(s, round, len(v))
		for i := range out {
			if p.ID < j {
				out[i] += m[i]
			} else {
				out[i] -= m[i]
			}
		}
	}
	return out
}

// Reveal hands the server the seed this client shares with a dropped client, so the server
// can remove the dropped client's masks from the sum. It reveals nothing of this client's
// own update: that is hidden by its masks with the other survivors.
func (p *Party) Reveal(dropped int) (Seed, error) {
	s, ok := p.seed[dropped]
	if !ok {
		return Seed{}, fmt.Errorf("secagg: client %d shares no seed with client %d", p.ID, dropped)
	}
	return s, nil
}

// Unmask is the server's side: it sums the masked vectors of the survivors and removes the
// masks they share with each dropped client, using the seeds the survivors revealed
// (revealed[survivor][dropped]). The result is the exact ring sum of the survivors' vectors.
func Unmask(round int, masked map[int][]uint64, dropped []int, revealed map[int]map[int]Seed) ([]uint64, error) {
	var sum []uint64
	for id, v := range masked {
		if sum == nil {
			sum = make([]uint64, len(v))
		}
		if len(v) != len(sum) {
			return nil, fmt.Errorf("secagg: client %d sent %d values, want %d", id, len(v), len(sum))
		}
		for i, x := range v {
			sum[i] += x
		}
	}
	if sum == nil {
		return nil, fmt.Errorf("secagg: no client survived round %d", round)
	}
	for _, d := range dropped {
		for s := range masked {
			seed, ok := revealed[s][d]
			if !ok {
				return nil, fmt.Errorf("secagg: survivor %d did not reveal its seed with dropped client %d", s, d)
			}
			m := mask(seed, round, len(sum))
			for i := range sum {
				if s < d { // s added this mask
					sum[i] -= m[i]
				} else {
					sum[i] += m[i]
				}
			}
		}
	}
	return sum, nil
}
