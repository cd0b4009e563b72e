//go:build darwin || dragonfly || freebsd || netbsd || openbsd

package push

import "syscall"

// The kqueue side of the poller (poll.go), with the standard library's
// syscall package: the core module depends on validator only.

type pollEvent = syscall.Kevent_t

func newQueue() (int, error) {
	q, err := syscall.Kqueue()
	if err == nil {
		syscall.CloseOnExec(q)
	}
	return q, err
}

// arm asks q for one notice when fd is readable or at its end (EV_EOF);
// an EV_ADD of a descriptor that is ready already fires at once.
func arm(q, fd int, _ bool) error {
	var ev [1]syscall.Kevent_t
	syscall.SetKevent(&ev[0], fd, syscall.EVFILT_READ, syscall.EV_ADD|syscall.EV_ONESHOT)
	_, err := syscall.Kevent(q, ev[:], nil, nil)
	return err
}

// wait returns the notices q holds, without waiting.
func wait(q int, events []pollEvent) (int, error) {
	var now syscall.Timespec
	return syscall.Kevent(q, nil, events, &now)
}

func eventFD(ev *pollEvent) int { return int(ev.Ident) }
