package testenv

import (
	"net"
	"sync/atomic"
	"testing"
)

// CountingListener is a TCP listener on 127.0.0.1 that accepts and at once
// closes every connection, counting them: a test that must prove a dial
// never happened (an address the outbound guard refuses) asserts that
// Accepted stays zero. It closes when the test ends.
type CountingListener struct {
	net.Listener
	accepted atomic.Int32
}

// ListenCounting starts a CountingListener for t.
func ListenCounting(t testing.TB) *CountingListener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen on 127.0.0.1: %v", err)
	}
	c := &CountingListener{Listener: l}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			c.accepted.Add(1)
			conn.Close()
		}
	}()
	return c
}

// Accepted is how many connections reached the listener so far.
func (c *CountingListener) Accepted() int32 { return c.accepted.Load() }

// Port is the listener's port, as a string for net.JoinHostPort.
func (c *CountingListener) Port() string {
	_, port, _ := net.SplitHostPort(c.Addr().String())
	return port
}
