package server

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/packyard/packyard/pkg/access"
	"github.com/packyard/packyard/pkg/ecosystem"
)

// BenchmarkPipeline is the server's own cost per request: the access log,
// metrics, request id, body limit, an authentication that finds the
// principal at once, Echo's routing and an authorization that allows, in
// front of a handler that writes 2 KiB it holds. What the ecosystems and the
// stores cost comes on top (see their benchmarks).
//
//	go test -run '^$' -bench Pipeline -benchmem ./pkg/server/
func BenchmarkPipeline(b *testing.B) {
	for _, level := range []zapcore.Level{zapcore.WarnLevel, zapcore.InfoLevel} {
		b.Run("log="+level.String(), func(b *testing.B) {
			log := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(io.Discard), level))
			s, err := New(Params{Config: Config{MaxBodySize: 1 << 20, WriteTimeout: defaultWriteTimeout}, Logger: log,
				Authn: knownPrincipal, Authz: allowAll{}, Registry: NewRegistry(), Ecosystems: []ecosystem.Ecosystem{docEcosystem{}}})
			require.NoError(b, err)
			h := s.Handler()
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					r := httptest.NewRequest(http.MethodGet, "/doc/acme/p2/vendor/name.json", nil)
					r.SetBasicAuth("token", "secret")
					w := httptest.NewRecorder()
					h.ServeHTTP(w, r)
					if w.Code != http.StatusOK {
						b.Fatalf("status %d: %s", w.Code, w.Body)
					}
				}
			})
		})
	}
}

const defaultWriteTimeout = 60e9

var benchDoc = []byte(strings.Repeat(`{"name":"vendor/name"}`, 2048/22))

// docEcosystem serves one document behind a read requirement.
type docEcosystem struct{}

func (docEcosystem) Name() string { return "doc" }

func (docEcosystem) Register(r ecosystem.Router) error {
	g := r.Group("/doc")
	read := r.Require(access.ActionRead, func(c echo.Context) access.Resource { return access.Resource{Org: c.Param("org")} })
	g.GET("/:org/p2/:vendor/:file", func(c echo.Context) error {
		return c.Blob(http.StatusOK, "application/json", benchDoc)
	}, read)
	return nil
}

// knownPrincipal authenticates every request with credentials as one
// principal, as an authentication answered from memory does.
func knownPrincipal(next http.Handler) http.Handler {
	p := &access.Principal{UserID: "u1", UserName: "alice", TokenID: "t1", Scope: "read", Method: "token"}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, _, ok := r.BasicAuth(); !ok {
			next.ServeHTTP(w, r)
			return
		}
		if h, ok := w.(interface{ SetPrincipal(string) }); ok {
			h.SetPrincipal(p.UserName)
		}
		next.ServeHTTP(w, r.WithContext(access.WithPrincipal(r.Context(), p)))
	})
}
