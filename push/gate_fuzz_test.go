package push

import (
	"bytes"
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
