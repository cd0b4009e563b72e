package redisfanout_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisServer is a redis-server process of one test: loopback, a free
// port, no persistence but what the test asks for, a temp dir of its own.
// It is stopped when the test ends.
type redisServer struct {
	tb   testing.TB
	bin  string
	dir  string
	port int

	args []string // more arguments of redis-server

	cmd    *exec.Cmd
	exited chan struct{} // closed once cmd has exited
	out    syncBuffer    // what the server printed, for failures
}

// startRedis starts a redis-server for tb, with args added to its
// command line. Without redis-server on PATH the test is skipped with the
// reason, or fails when CI=true: CI installs it, and a suite that skips
// there proves nothing.
func startRedis(tb testing.TB, args ...string) *redisServer {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("redis-server is needed in CI: %v", err)
		}
		tb.Skipf("redis-server not found (apt-get install redis-server): %v", err)
	}
	s := &redisServer{tb: tb, bin: bin, dir: tb.TempDir(), args: args}
	tb.Cleanup(s.kill)
	// Another process may take the free port before the server binds it:
	// try a few.
	for range 5 {
		if s.port, err = freePort(); err != nil {
			tb.Fatal(err)
		}
		if err = s.start(); err == nil {
			return s
		}
	}
	tb.Fatalf("redis-server did not start: %v\n%s", err, s.out.String())
	return nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func (s *redisServer) addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// start runs the server on s.port, loading dump.rdb from s.dir if there is
// one, and returns once it answers PING.
func (s *redisServer) start() error {
	s.cmd = exec.Command(s.bin, append([]string{"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", s.dir}, s.args...)...)
	s.cmd.Stdout, s.cmd.Stderr = &s.out, &s.out
	if err := s.cmd.Start(); err != nil {
		return err
	}
	s.exited = make(chan struct{})
	go func(cmd *exec.Cmd, exited chan struct{}) {
		cmd.Wait()
		close(exited)
	}(s.cmd, s.exited)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			return errors.New("redis-server exited")
		default:
		}
		if pong(s.addr()) {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.kill()
	return errors.New("redis-server did not answer PING within 10 s")
}

// pong reports whether addr answers PING with PONG (not LOADING).
func pong(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := io.WriteString(c, "PING\r\n"); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && line == "+PONG\r\n"
}

// kill stops the server at once, saving nothing, and waits for it.
func (s *redisServer) kill() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
}

// outage makes the store unreachable, keeping what it holds: the server
// saves its data and stops, and restore starts it again on the same port,
// loading the data.
func (s *redisServer) outage() (restore func()) {
	s.tb.Helper()
	c := redis.NewClient(&redis.Options{Addr: s.addr(), MaxRetries: -1})
	err := c.ShutdownSave(context.Background()).Err() // the server closes the connection: no reply
	c.Close()
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		s.tb.Fatalf("redis-server did not shut down: %v\n%s", err, s.out.String())
	}
	s.cmd = nil
	return func() {
		s.tb.Helper()
		if err := s.start(); err != nil {
			s.tb.Fatalf("restarting redis-server: %v\n%s", err, s.out.String())
		}
	}
}

// wipe restarts the server with an empty store, as a server without
// persistence comes back after a crash.
func (s *redisServer) wipe() {
	s.tb.Helper()
	s.kill()
	if err := os.Remove(filepath.Join(s.dir, "dump.rdb")); err != nil && !errors.Is(err, os.ErrNotExist) {
		s.tb.Fatal(err)
	}
	if err := s.start(); err != nil {
		s.tb.Fatalf("restarting redis-server: %v\n%s", err, s.out.String())
	}
}

// client returns a new client of the server, closed when the test ends.
// Its short timeouts make calls fail fast while the server is down.
func (s *redisServer) client(tb testing.TB) *redis.Client {
	return newClient(tb, s.addr())
}

func newClient(tb testing.TB, addr string) *redis.Client {
	c := redis.NewClient(&redis.Options{
		Addr:                  addr,
		DialTimeout:           time.Second,
		DialerRetries:         1,
		ReadTimeout:           2 * time.Second,
		WriteTimeout:          2 * time.Second,
		ContextTimeoutEnabled: true,
	})
	tb.Cleanup(func() { c.Close() })
	return c
}

// syncBuffer is a bytes.Buffer safe for the server's output goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
