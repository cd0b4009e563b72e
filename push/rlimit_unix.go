//go:build unix

package push

import "syscall"

// fileLimit returns the process's limit on open files (the soft
// RLIMIT_NOFILE, which the os package raises to the hard limit at start).
func fileLimit() (uint64, bool) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, false
	}
	return uint64(l.Cur), true
}
