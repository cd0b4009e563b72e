//go:build !unix

package push

// fileLimit reports that the process has no limit on open files this
// package can read.
func fileLimit() (uint64, bool) { return 0, false }
