// SPDX-License-Identifier: GPL-2.0-or-later

package discovery

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math"
	"net"
	"slices"
	"strconv"
)

// Rendezvous (highest-random-weight) ordering among equals: every client
// that sends the same request (the same Policy.Key) to the same set of
// equally good servers tries them in the same order, so a script is
// compiled once per fleet and found in that server's cache afterwards.
// When a server leaves, only the requests that scored it first move, each
// to its second; the others keep their server. Weighted by SRV weight
// (weighted rendezvous hashing: score = -w / ln(u), u uniform in (0,1)
// from the hash), so a server of weight 2w comes first twice as often as
// one of weight w.

// CertIdentity is a server's identity from its pinned certificate: the
// SHA-256 of the certificate's DER, in hex. It survives restarts and is the
// same for all its addresses.
func CertIdentity(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// Identity is what a candidate is scored by: the identity of the trusted
// certificate with its serial when the policy knows one (Identities), else
// its certinfo, else its host (or address) and port.
func (p Policy) Identity(c Candidate) string {
	if id := p.Identities[c.Certinfo]; c.Certinfo != "" && id != "" {
		return id
	}
	if c.Certinfo != "" {
		return "certinfo " + c.Certinfo
	}
	host := c.Host
	if host == "" {
		host = c.Addr.String()
	}
	return net.JoinHostPort(host, strconv.Itoa(int(c.Port)))
}

// Score is c's rendezvous score for the policy's request key, weighted by
// its SRV weight (a weight of 0 counts as 1 here; Rendezvous puts it after
// servers of weight). 0 when the policy has no key.
func (p Policy) Score(c Candidate) float64 {
	if p.Key == nil {
		return 0
	}
	return Score(p.Key, p.Identity(c), max(c.Weight, 1))
}

// Score is the weighted rendezvous score of identity for key: larger
// comes first.
func Score(key []byte, identity string, weight uint16) float64 {
	h := sha256.New()
	var n [8]byte
	// Length-prefixed, so that no key and identity pair reads as another.
	binary.BigEndian.PutUint64(n[:], uint64(len(key)))
	h.Write(n[:])
	h.Write(key)
	h.Write([]byte(identity))
	sum := h.Sum(nil)
	// 53 random bits, centred in their interval: u is never 0 nor 1.
	u := (float64(binary.BigEndian.Uint64(sum[:8])>>11) + 0.5) / (1 << 53)
	return -float64(weight) / math.Log(u)
}

// Rendezvous reorders each run of equally ranked candidates (as Order
// leaves them) by score, highest first, and records each one's Score.
// Within a run where some servers have an SRV weight, those of weight 0
// come after them (RFC 2782). The addresses of one server share their
// score and stay together, in their order.
func (p Policy) Rendezvous(cs []Candidate) {
	for start := 0; start < len(cs); {
		end := start + 1
		for end < len(cs) && compareRank(cs[start], cs[end]) == 0 {
			end++
		}
		run := cs[start:end]
		weighted := false
		for i := range run {
			run[i].Score = p.Score(run[i])
			weighted = weighted || run[i].Weight > 0
		}
		slices.SortStableFunc(run, func(a, b Candidate) int {
			if weighted && (a.Weight == 0) != (b.Weight == 0) {
				if a.Weight == 0 {
					return 1
				}
				return -1
			}
			return cmp.Compare(b.Score, a.Score)
		})
		start = end
	}
}
