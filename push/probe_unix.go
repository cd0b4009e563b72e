//go:build unix && !(linux || darwin || dragonfly || freebsd || netbsd || openbsd)

package push

import (
	"crypto/tls"
	"net"
	"syscall"
)

const canPeek = true

// peerClosed reports whether the browser end of c has closed, without
// blocking and without consuming anything. It misses a client that sent
// something before it closed (a TLS close_notify, a stray byte): there
// the first heartbeat that fails finds it.
func peerClosed(c net.Conn) bool {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	closed := false
	raw.Read(func(fd uintptr) bool {
		var b [1]byte
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK) // the socket does not block
		closed = (n == 0 && err == nil) || err == syscall.ECONNRESET
		return true // never wait for data
	})
	return closed
}
