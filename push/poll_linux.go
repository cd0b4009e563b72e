package push

import "syscall"

// The epoll side of the poller (poll.go), with the standard library's
// syscall package: the core module depends on validator only.

type pollEvent = syscall.EpollEvent

func newQueue() (int, error) { return syscall.EpollCreate1(syscall.EPOLL_CLOEXEC) }

// arm asks q for one notice when fd is readable, half-closed or broken
// (EPOLLERR and EPOLLHUP are always reported); level-triggered, so that
// what is already there is noticed at once.
func arm(q, fd int, first bool) error {
	op := syscall.EPOLL_CTL_MOD
	if first {
		op = syscall.EPOLL_CTL_ADD
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT, Fd: int32(fd)}
	return syscall.EpollCtl(q, op, fd, &ev)
}

// wait returns the notices q holds, without waiting.
func wait(q int, events []pollEvent) (int, error) { return syscall.EpollWait(q, events, 0) }

func eventFD(ev *pollEvent) int { return int(ev.Fd) }
