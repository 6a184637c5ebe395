package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"
	"golang.org/x/net/http2"

	"github.com/packyard/packyard/pkg/config"
	"github.com/packyard/packyard/pkg/ecosystem"
)

// transferEcosystem has an upload route that reads its whole body and a
// download route that writes n bytes.
type transferEcosystem struct{ writeErr chan error }

func (transferEcosystem) Name() string { return "transfer" }

func (e transferEcosystem) Register(r ecosystem.Router) error {
	g := r.Group("/transfer")
	g.POST("/upload", func(c echo.Context) error {
		n, err := io.Copy(io.Discard, c.Request().Body)
		if err != nil {
			return err
		}
		return c.String(http.StatusOK, fmt.Sprint(n))
	})
	g.POST("/partial", func(c echo.Context) error { // reads one byte, works, answers
		_, _ = c.Request().Body.Read(make([]byte, 1))
		time.Sleep(600 * time.Millisecond)
		return c.String(http.StatusOK, "done")
	})
	g.GET("/alive", func(c echo.Context) error {
		if err := c.Request().Context().Err(); err != nil {
			return c.String(http.StatusServiceUnavailable, err.Error())
		}
		return c.String(http.StatusOK, "alive")
	})
	g.GET("/download/:n", func(c echo.Context) error {
		var n int
		fmt.Sscan(c.Param("n"), &n)
		c.Response().Header().Set("Content-Length", fmt.Sprint(n))
		c.Response().WriteHeader(http.StatusOK)
		chunk := make([]byte, 32<<10)
		var err error
		for sent := 0; sent < n && err == nil; sent += len(chunk) {
			_, err = c.Response().Write(chunk[:min(len(chunk), n-sent)])
		}
		e.writeErr <- err
		return nil
	})
	return nil
}

func startTimeoutServer(t *testing.T, cfg Config) (*Server, chan error) {
	t.Helper()
	cfg.Addr, cfg.MaxBodySize = "127.0.0.1:0", 1<<30
	writeErr := make(chan error, 1)
	s, err := New(Params{Config: cfg, Logger: zaptest.NewLogger(t), Authn: refuseCredentials, Authz: allowAll{},
		Registry: NewRegistry(), Ecosystems: []ecosystem.Ecosystem{transferEcosystem{writeErr: writeErr}}})
	require.NoError(t, err)
	require.NoError(t, s.Start(t.Context(), func(err error) { t.Error(err) }))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = s.Stop(ctx)
	})
	return s, writeErr
}

// closedWithin reads from conn until it is closed and returns how long that took.
func closedWithin(t *testing.T, conn net.Conn, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	require.NoError(t, conn.SetReadDeadline(start.Add(limit)))
	_, err := io.Copy(io.Discard, conn)
	var ne net.Error
	if err != nil && errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the connection was still open after %s", limit)
	}
	return time.Since(start)
}

// A slowloris client, sending its headers a line at a time, is disconnected
// after the read-header timeout.
func TestSlowHeadersAreDisconnected(t *testing.T) {
	s, _ := startTimeoutServer(t, Config{ReadHeaderTimeout: 500 * time.Millisecond, ReadTimeout: time.Minute,
		WriteTimeout: time.Minute, IdleTimeout: time.Minute})
	conn, err := net.Dial("tcp", s.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		_, _ = io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n")
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			if _, err := fmt.Fprintf(conn, "X-Slow-%d: y\r\n", i); err != nil {
				return
			}
		}
	}()
	took := closedWithin(t, conn, 5*time.Second)
	require.GreaterOrEqual(t, took, 400*time.Millisecond)
	require.Less(t, took, 3*time.Second)
}

// A body that stops arriving is cut after the read timeout, while a body
// that keeps arriving passes however long it takes in total.
func TestBodyReadTimeout(t *testing.T) {
	s, _ := startTimeoutServer(t, Config{ReadHeaderTimeout: time.Minute, ReadTimeout: 300 * time.Millisecond,
		WriteTimeout: time.Minute, IdleTimeout: time.Minute})

	conn, err := net.Dial("tcp", s.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	_, err = io.WriteString(conn, "POST /transfer/upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n0123456789")
	require.NoError(t, err)
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusRequestTimeout, res.StatusCode)
	took := closedWithin(t, conn, 5*time.Second)
	require.Less(t, took, 3*time.Second, "a stalled body is dropped")

	// A body the handler does not read must arrive in time too: the server
	// discards it after the answer.
	conn, err = net.Dial("tcp", s.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	_, err = io.WriteString(conn, "POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n0123456789")
	require.NoError(t, err)
	res, err = http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusNotFound, res.StatusCode)
	took = closedWithin(t, conn, 5*time.Second)
	require.Less(t, took, 3*time.Second, "an unread stalled body is dropped")

	conn, err = net.Dial("tcp", s.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	_, err = io.WriteString(conn, "POST /transfer/upload HTTP/1.1\r\nHost: x\r\nContent-Length: 12\r\n\r\n")
	require.NoError(t, err)
	start := time.Now()
	for range 12 {
		time.Sleep(100 * time.Millisecond)
		_, err = io.WriteString(conn, "x")
		require.NoError(t, err)
	}
	res, err = http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	b, _ := io.ReadAll(res.Body)
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Equal(t, "12", string(b))
	require.Greater(t, time.Since(start), time.Second, "longer in total than the read timeout")
}

// A handler that leaves part of a body unread and works longer than the
// read timeout does not spoil the next request on the same connection.
func TestBodyDeadlineDoesNotOutliveTheRequest(t *testing.T) {
	s, _ := startTimeoutServer(t, Config{ReadHeaderTimeout: time.Minute, ReadTimeout: 300 * time.Millisecond,
		WriteTimeout: time.Minute, IdleTimeout: time.Minute})
	conn, err := net.Dial("tcp", s.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	br := bufio.NewReader(conn)
	_, err = io.WriteString(conn, "POST /transfer/partial HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nab")
	require.NoError(t, err)
	res, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, res.Body)
	require.Equal(t, http.StatusOK, res.StatusCode)
	time.Sleep(100 * time.Millisecond)
	_, err = io.WriteString(conn, "GET /transfer/alive HTTP/1.1\r\nHost: x\r\n\r\n")
	require.NoError(t, err)
	res, err = http.ReadResponse(br, nil)
	require.NoError(t, err)
	b, _ := io.ReadAll(res.Body)
	require.Equal(t, http.StatusOK, res.StatusCode, string(b))
}

// A client that stops reading a response is dropped after the write
// timeout, while one that reads slowly gets all of it.
func TestResponseWriteTimeout(t *testing.T) {
	s, writeErr := startTimeoutServer(t, Config{ReadHeaderTimeout: time.Minute, ReadTimeout: time.Minute,
		WriteTimeout: time.Second, IdleTimeout: time.Minute})

	conn, err := net.Dial("tcp", s.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	_, err = io.WriteString(conn, "GET /transfer/download/268435456 HTTP/1.1\r\nHost: x\r\n\r\n")
	require.NoError(t, err)
	select {
	case err := <-writeErr:
		require.Error(t, err, "a client that does not read is dropped")
	case <-time.After(10 * time.Second):
		t.Fatal("the handler is still writing to a client that reads nothing")
	}

	// 6.4 MB/s in steps of 64 KiB: a blocked write waits until half of
	// what the kernel queued (at most a few MiB) has gone, well within the
	// timeout, while the whole takes longer than it.
	conn, err = net.Dial("tcp", s.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	_, err = io.WriteString(conn, "GET /transfer/download/12582912 HTTP/1.1\r\nHost: x\r\n\r\n")
	require.NoError(t, err)
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	defer res.Body.Close()
	start, n, buf := time.Now(), 0, make([]byte, 64<<10)
	for {
		m, err := io.ReadFull(res.Body, buf)
		n += m
		if err != nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	require.Equal(t, 12582912, n)
	require.NoError(t, <-writeErr)
	require.Greater(t, time.Since(start), time.Second, "longer in total than the write timeout")
}

func TestTimeoutConfig(t *testing.T) {
	l := config.NewLoader(config.Map(nil))
	c := ConfigFromEnv(l)
	require.NoError(t, l.Err())
	require.Equal(t, []time.Duration{10 * time.Second, time.Minute, time.Minute, 2 * time.Minute},
		[]time.Duration{c.ReadHeaderTimeout, c.ReadTimeout, c.WriteTimeout, c.IdleTimeout})
	l = config.NewLoader(config.Map(map[string]string{"PACKYARD_HTTP_READ_TIMEOUT": "5m", "PACKYARD_HTTP_WRITE_TIMEOUT": "0"}))
	c = ConfigFromEnv(l)
	require.Equal(t, 5*time.Minute, c.ReadTimeout)
	require.ErrorContains(t, l.Err(), "PACKYARD_HTTP_WRITE_TIMEOUT")
}

// Over HTTP/2 (h2c) too, a body that keeps arriving passes and one that
// stops is answered 408 after the read timeout.
func TestBodyReadTimeoutHTTP2(t *testing.T) {
	s, _ := startTimeoutServer(t, Config{ReadHeaderTimeout: time.Minute, ReadTimeout: 300 * time.Millisecond,
		WriteTimeout: time.Minute, IdleTimeout: time.Minute})
	h2c := &http.Client{Transport: &http2.Transport{AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		}}}
	url := "http://" + s.Addr().String() + "/transfer/upload"

	pr, pw := io.Pipe()
	go func() {
		for range 8 {
			time.Sleep(100 * time.Millisecond)
			_, _ = pw.Write([]byte("x"))
		}
		pw.Close()
	}()
	res, err := h2c.Post(url, "application/octet-stream", pr)
	require.NoError(t, err)
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	require.Equal(t, 2, res.ProtoMajor)
	require.Equal(t, http.StatusOK, res.StatusCode, string(b))
	require.Equal(t, "8", string(b))

	pr, pw = io.Pipe()
	defer pw.Close()
	go func() { _, _ = pw.Write([]byte("0123456789")) }()
	start := time.Now()
	res, err = h2c.Post(url, "application/octet-stream", pr)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusRequestTimeout, res.StatusCode)
	require.Less(t, time.Since(start), 3*time.Second)
}
