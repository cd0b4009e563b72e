// Package fanout makes the push.Backends that join an example's instances,
// over NATS JetStream or Redis, on a server given by URL or on one it
// starts: examples/cluster and examples/internal/loadcluster run it, and
// the examples' tests start their servers with it.
package fanout

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"time"

	"github.com/engagekit/gateway/natsfanout"
	"github.com/engagekit/gateway/push"
	"github.com/engagekit/gateway/redisfanout"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/redis/go-redis/v9"
)

// Backends returns n backends of kind, "nats" (the default, when kind is
// empty) or "redis", on the server at url, each with a connection of its
// own as n processes would have. With url empty it first starts a server:
// [StartNATS] or [StartRedis]. A NATS url is a client URL; a Redis one is
// redis:// or rediss://, as redis.ParseURL reads it.
//
// stop closes the connections, last made first, then stops the server it
// started; the brokers must be shut down first. On an error, what was
// started is stopped already, and stop does nothing.
func Backends(ctx context.Context, kind, url string, n int, log *slog.Logger) (backends []push.Backend, stop func(), err error) {
	var stops []func()
	stop = func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
		stops = nil
	}
	atStop := func(f func()) { stops = append(stops, f) }
	var start func(*slog.Logger) (string, func(), error)
	var connect func(ctx context.Context, url string, n int, log *slog.Logger, atStop func(func())) ([]push.Backend, error)
	switch kind {
	case "", "nats":
		start, connect = StartNATS, natsBackends
	case "redis":
		start, connect = StartRedis, redisBackends
	default:
		return nil, stop, fmt.Errorf("unknown backend %q: nats or redis", kind)
	}
	if url == "" {
		var stopServer func()
		if url, stopServer, err = start(log); err != nil {
			return nil, stop, err
		}
		atStop(stopServer)
	}
	if backends, err = connect(ctx, url, n, log, atStop); err != nil {
		stop()
		return nil, stop, err
	}
	return backends, stop, nil
}

// natsBackends connects n backends to the NATS server at url.
func natsBackends(ctx context.Context, url string, n int, log *slog.Logger, atStop func(func())) ([]push.Backend, error) {
	var backends []push.Backend
	for i := range n {
		log := log.With("instance", i+1)
		nc, err := nats.Connect(url, natsfanout.ConnectOptions(log)...)
		if err != nil {
			return nil, err
		}
		atStop(func() { drain(nc) })
		b, err := natsfanout.New(ctx, nc, &natsfanout.Options{Logger: log})
		if err != nil {
			return nil, err
		}
		backends = append(backends, b)
	}
	return backends, nil
}

// redisBackends connects n backends to the Redis at url.
func redisBackends(ctx context.Context, url string, n int, log *slog.Logger, atStop func(func())) ([]push.Backend, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, err
	}
	opt.ContextTimeoutEnabled = true // the brokers' deadlines bound each call
	var backends []push.Backend
	for i := range n {
		rc := redis.NewClient(opt)
		atStop(func() { rc.Close() })
		b, err := redisfanout.New(ctx, rc, &redisfanout.Options{Logger: log.With("instance", i+1)})
		if err != nil {
			return nil, err
		}
		backends = append(backends, b)
	}
	return backends, nil
}

// drain drains nc and waits until it is closed, at most 5 s: Drain only
// starts the drain, and a server stopped under it makes the client report
// errors.
func drain(nc *nats.Conn) {
	if nc.Drain() == nil {
		for deadline := time.Now().Add(5 * time.Second); !nc.IsClosed() && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
	}
	nc.Close()
}

// StartNATS starts an embedded NATS server with JetStream, on a free
// loopback port with its store in a temp dir, and returns its client URL
// once it takes connections. stop stops it and removes the dir.
func StartNATS(log *slog.Logger) (url string, stop func(), err error) {
	dir, err := os.MkdirTemp("", "gwe-nats-")
	if err != nil {
		return "", nil, err
	}
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true})
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	go ns.Start()
	stop = func() {
		ns.Shutdown()
		ns.WaitForShutdown()
		os.RemoveAll(dir)
	}
	if !ns.ReadyForConnections(10 * time.Second) {
		stop()
		return "", nil, errors.New("embedded NATS server did not start within 10 s")
	}
	log.Info("embedded NATS server", "url", ns.ClientURL(), "store", dir)
	return ns.ClientURL(), stop, nil
}

// StartRedis starts redis-server from PATH on a free loopback port, with
// a temp dir and no persistence, and returns its redis:// URL once it
// answers PING. Without redis-server on PATH its error wraps
// exec.ErrNotFound. stop stops the server, killing it after 5 s, and
// removes the dir.
func StartRedis(log *slog.Logger) (url string, stop func(), err error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return "", nil, fmt.Errorf("no Redis URL given, and no redis-server to start: %w", err)
	}
	dir, err := os.MkdirTemp("", "gwe-redis-")
	if err != nil {
		return "", nil, err
	}
	// Another process may take the free port before the server binds it:
	// try a few.
	for range 3 {
		var port int
		if port, err = freePort(); err != nil {
			break
		}
		var out bytes.Buffer
		cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no", "--dir", dir)
		cmd.Stdout, cmd.Stderr = &out, &out
		if err = cmd.Start(); err != nil {
			break
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		stop = func() {
			cmd.Process.Signal(os.Interrupt)
			select {
			case <-exited:
			case <-time.After(5 * time.Second):
				cmd.Process.Kill()
				<-exited
			}
			os.RemoveAll(dir)
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if err = waitPong(addr, exited); err == nil {
			log.Info("redis-server started", "addr", addr, "dir", dir)
			return "redis://" + addr, stop, nil
		}
		cmd.Process.Kill()
		<-exited
		err = fmt.Errorf("redis-server: %w: %s", err, bytes.TrimSpace(out.Bytes()))
	}
	os.RemoveAll(dir)
	return "", nil, err
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// waitPong waits up to 10 s for addr to answer PING, or for the server to
// exit.
func waitPong(addr string, exited <-chan struct{}) error {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		select {
		case <-exited:
			return errors.New("exited")
		default:
		}
		if pong(addr) {
			return nil
		}
	}
	return errors.New("no answer to PING within 10 s")
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
