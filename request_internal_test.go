package gateway

import "testing"

// TestBodyPoolKeepsOnlySmallBuffers checks putBody's promise: a buffer of
// up to maxPooledBody bytes is emptied and reused, a larger one is left to
// the garbage collector. (Not parallel: no other test may take the buffer
// from the pool meanwhile. The pool may drop a Put, under the race detector
// a quarter of them, so each case tries a hundred times.)
func TestBodyPoolKeepsOnlySmallBuffers(t *testing.T) {
	for _, tc := range []struct {
		name string
		cap  int
		kept bool
	}{
		{"the pool's own size", 4096, true},
		{"the largest kept", maxPooledBody, true},
		{"one byte larger", maxPooledBody + 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := make([]byte, 10, tc.cap)
			bp := &b
			kept := false
			for range 100 {
				putBody(bp)
				if got := bodyPool.Get().(*[]byte); got == bp {
					kept = true
					if len(*got) != 0 {
						t.Errorf("a reused buffer holds %d bytes, want 0", len(*got))
					}
					break
				}
			}
			if kept != tc.kept {
				t.Errorf("kept = %v, want %v", kept, tc.kept)
			}
		})
	}
}
