package server

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/packyard/packyard/pkg/access"
	"github.com/packyard/packyard/pkg/audit"
	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/logging"
)

// RequestIDHeader carries the request id in requests and responses.
const RequestIDHeader = "X-Request-Id"

// recorder captures what the access log needs, and gives every write the
// write timeout (see progress).
type recorder struct {
	http.ResponseWriter
	status    int
	bytes     int64
	principal string
	write     progress
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	r.write.arm()
	n, err := r.ResponseWriter.Write(b)
	r.write.disarm()
	r.bytes += int64(n)
	return n, err
}

// SetPrincipal lets the authentication middleware name the caller in the access log.
func (r *recorder) SetPrincipal(name string) { r.principal = name }

// Unwrap lets http.ResponseController reach Flush and deadlines.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		if r.status == 0 {
			r.status = http.StatusOK
		}
		r.write.arm()
		f.Flush()
		r.write.disarm()
	}
}

// requestIDs names requests: a random prefix drawn once per process and a
// counter, 24 hex digits in all (unique, not secret: clients may send their
// own). Drawing randomness for every request cost a system call each.
type requestIDs struct {
	prefix [16]byte // hex of 8 random bytes
	next   atomic.Uint64
}

func newRequestIDs() *requestIDs {
	var r requestIDs
	var b [8]byte
	_, _ = rand.Read(b[:])
	hex.Encode(r.prefix[:], b[:])
	var n [4]byte
	_, _ = rand.Read(n[:])
	r.next.Store(uint64(binary.BigEndian.Uint32(n[:])))
	return &r
}

func (r *requestIDs) new() string {
	var b [24]byte
	copy(b[:], r.prefix[:])
	n := uint32(r.next.Add(1))
	hex.Encode(b[16:], []byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
	return string(b[:])
}

// requestIDValid reports whether a request id a client sent is used: 1 to
// 64 of A-Z, a-z, 0-9 and ".", "_", ":", "-" (no regular expression: it runs
// on every request).
func requestIDValid(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}

// ClientAddr is the client's IP address: the connection's peer or, when
// proxy headers are trusted, the last address of X-Forwarded-For (the one
// the proxy next to packyard saw).
func ClientAddr(r *http.Request, trustProxyHeaders bool) string {
	if trustProxyHeaders {
		if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
			parts := strings.Split(xff[len(xff)-1], ",")
			if ip := net.ParseIP(strings.TrimSpace(parts[len(parts)-1])); ip != nil {
				return ip.String()
			}
		}
	}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// accessLog assigns a request id, puts a request-scoped logger and the
// request's audit metadata (id, client address, user agent) in the
// context, sets the body's read and the response's write timeouts, recovers
// panics and writes one access-log line per request.
func accessLog(log *zap.Logger, m *metrics, cfg Config) func(http.Handler) http.Handler {
	ids := newRequestIDs()
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			id := r.Header.Get(RequestIDHeader)
			if !requestIDValid(id) {
				id = ids.new()
			}
			w.Header()[RequestIDHeader] = []string{id}
			// Lazy: the field is encoded only when the request logs something.
			rl := log.WithLazy(zap.String("request_id", id))
			rc := http.NewResponseController(w)
			rec := &recorder{ResponseWriter: w, write: progress{set: rc.SetWriteDeadline, d: cfg.WriteTimeout}}
			ctx, route := withRouteSlot(r.Context())
			defer func() {
				if p := recover(); p != nil {
					if p == http.ErrAbortHandler {
						panic(p)
					}
					rl.Error("panic while serving request", zap.Any("panic", p), zap.Stack("stack"))
					if rec.status == 0 {
						writeError(r.WithContext(ctx), rec, http.StatusInternalServerError, "internal error")
					}
				}
				d := time.Since(start)
				status := rec.status
				if status == 0 {
					status = http.StatusOK
				}
				m.observe(route.name, r, status, d)
				if ce := rl.Check(zap.InfoLevel, "request"); ce != nil {
					ce.Write(
						zap.String("method", r.Method),
						zap.String("path", r.URL.Path),
						zap.Int("status", status),
						zap.Int64("bytes", rec.bytes),
						zap.Duration("duration", d),
						zap.String("principal", rec.principal),
						zap.String("remote", r.RemoteAddr),
						zap.String("user_agent", r.UserAgent()),
						zap.String("proto", r.Proto),
					)
				}
			}()
			ctx = audit.WithRequest(logging.With(ctx, rl), audit.Request{ID: id,
				ClientAddr: ClientAddr(r, cfg.TrustProxyHeaders), UserAgent: r.UserAgent()})
			req := r.WithContext(ctx)
			// HTTP/1 only: the server's final flush of the answer gets the
			// write timeout too, and its discard of an unread body the read
			// timeout (HTTP/2 has neither, and closes the stream's timers).
			http1 := r.ProtoMajor == 1
			if http1 {
				defer rec.write.arm()
			}
			if cfg.ReadTimeout > 0 && r.Body != nil && r.Body != http.NoBody {
				body := newDeadlineBody(r.Body, progress{set: rc.SetReadDeadline, d: cfg.ReadTimeout})
				if http1 {
					defer body.handlerDone()
				}
				req.Body = body
			}
			next.ServeHTTP(rec, req)
		})
	}
}

// bodyLimit caps every request body; routes set stricter limits themselves.
func bodyLimit(max int64) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.ContentLength > max {
				writeError(r, w, http.StatusRequestEntityTooLarge, "request body too large")
				return
			}
			if r.Body != nil && r.Body != http.NoBody {
				r.Body = http.MaxBytesReader(w, r.Body, max)
			}
			next.ServeHTTP(w, r)
		})
	}
}

// writeError answers status with the JSON error body of the other edges
// (the message and the request id), for the middleware outside Echo.
func writeError(r *http.Request, w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(access.ErrorBodyFor(r, errs.StatusCode(status), msg))
}
