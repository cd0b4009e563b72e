package main

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

	"github.com/engagekit/gateway/push"
	"github.com/engagekit/gateway/redisfanout"
	"github.com/redis/go-redis/v9"
)

// redisBackends returns n backends on the Redis at url (redis:// or
// rediss://, as redis.ParseURL reads it), each with a client of its own
// as n processes would have; with url empty it first starts redis-server
// from PATH (see startRedis). stop closes the clients, then stops the
// server it started. The brokers must be shut down first.
func redisBackends(ctx context.Context, url string, n int, log *slog.Logger) (backends []push.Backend, stop func(), err error) {
	var stops []func()
	stop = func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	defer func() {
		if err != nil {
			stop()
		}
	}()
	if url == "" {
		var stopServer func()
		if url, stopServer, err = startRedis(log); err != nil {
			return nil, stop, err
		}
		stops = append(stops, stopServer)
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, stop, err
	}
	opt.ContextTimeoutEnabled = true // the brokers' deadlines bound each call
	for i := range n {
		rc := redis.NewClient(opt)
		stops = append(stops, func() { rc.Close() })
		be, err := redisfanout.New(ctx, rc, &redisfanout.Options{Logger: log.With("instance", i+1)})
		if err != nil {
			return nil, stop, err
		}
		backends = append(backends, be)
	}
	return backends, stop, nil
}

// startRedis starts redis-server from PATH on a free loopback port, with
// a temp dir and no persistence, and returns its URL once it answers PING.
// stop stops it and removes the dir.
func startRedis(log *slog.Logger) (url string, stop func(), err error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return "", nil, fmt.Errorf("-backend redis without -redis starts redis-server: %w", err)
	}
	dir, err := os.MkdirTemp("", "gwe-cluster-redis-")
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
