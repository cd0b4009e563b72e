//go:build !unix

package push

import "net"

// canPeek is false where a socket cannot be peeked at: a vanished browser
// is found by the next heartbeat that fails to write.
const canPeek = false

func peerClosed(net.Conn) bool { return false }
