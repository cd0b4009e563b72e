//go:build unix

package push

import (
	"net"
	"syscall"
)

// peerClosed reports whether the browser end of c has closed, without
// blocking and without consuming anything: a stream's browser sends nothing
// after its request, so a peek that finds the end of the stream (or a reset)
// means it is gone. It lets the sweeper free a vanished browser's stream
// within a second rather than at the next failed heartbeat.
func peerClosed(c net.Conn) bool {
	if nc, ok := c.(interface{ NetConn() net.Conn }); ok { // TLS
		c = nc.NetConn()
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
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		closed = (n == 0 && err == nil) || err == syscall.ECONNRESET
		return true // never wait for data
	})
	return closed
}
