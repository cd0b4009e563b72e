package push

import (
	"bytes"
	"hash/fnv"
	"strings"
	"testing"
)

// FuzzDecodeVisitGate: a visit's record, read from a shared store, never
// makes the decoder panic, and what decodes encodes to the same bytes.
func FuzzDecodeVisitGate(f *testing.F) {
	f.Add([]byte{})
	f.Add((&visitGate{rejected: 1764412345678, offers: []offer{{1764412345000, 7}, {1764412346000, 1 << 31}}}).encode())
	f.Add([]byte{gateVersion, 0, 200})
	f.Fuzz(func(t *testing.T, data []byte) {
		v, ok := decodeVisitGate(data)
		if !ok || len(data) == 0 {
			return
		}
		if again := v.encode(); !bytes.Equal(again, data) {
			// Varints have one shortest form; a longer one decodes too.
			if w, ok := decodeVisitGate(again); !ok || w.rejected != v.rejected || len(w.offers) != len(v.offers) {
				t.Fatalf("%x decodes to %+v, which encodes to %x", data, v, again)
			}
		}
	})
}

// TestOfferIDIsFNV1a: offerID is FNV-1a of 32 bits, as hash/fnv computes
// it, so that brokers of different releases sharing a backend count one
// interactionID alike.
func TestOfferIDIsFNV1a(t *testing.T) {
	for _, id := range []string{"", "i-1", "0001Ba8M:x.y_z", strings.Repeat("é", 32)} {
		h := fnv.New32a()
		h.Write([]byte(id))
		if got, want := offerID(id), h.Sum32(); got != want {
			t.Errorf("offerID(%q) = %#x, want %#x", id, got, want)
		}
	}
}
