package buf

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	modulev1 "buf.build/gen/go/bufbuild/registry/protocolbuffers/go/buf/registry/module/v1"
	"connectrpc.com/connect"
	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/pkg/metadata"
)

func TestLimitsAndMalformedBodies(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxFileSize = 1 << 10
	cfg.MaxUploadSize = 8 << 10
	cfg.MaxFiles = 3
	e := newEnv(t, "sqlite", cfg)
	c := e.clients(e.org("acme", false, metadata.RoleWrite))
	c.create(t, "acme", "m", modulev1.ModuleVisibility_MODULE_VISIBILITY_PRIVATE)
	ctx := context.Background()
	before := e.countRows(t)

	big := proto3("big") + "// " + strings.Repeat("x", 2<<10) + "\n"
	_, err := c.push(ctx, nil, content{owner: "acme", name: "m", files: map[string]string{"big.proto": big}})
	require.Equal(t, connect.CodeInvalidArgument, code(err), "file over PACKYARD_BUF_MAX_FILE_SIZE: %v", err)
	require.Contains(t, err.Error(), "limit")

	many := map[string]string{}
	for _, n := range []string{"a", "b", "c", "d"} {
		many[n+".proto"] = proto3(n)
	}
	_, err = c.push(ctx, nil, content{owner: "acme", name: "m", files: many})
	require.Equal(t, connect.CodeInvalidArgument, code(err), "more than PACKYARD_BUF_MAX_FILES: %v", err)

	c.create(t, "acme", "m2", modulev1.ModuleVisibility_MODULE_VISIBILITY_PRIVATE)
	c.create(t, "acme", "m3", modulev1.ModuleVisibility_MODULE_VISIBILITY_PRIVATE)
	var parts []content
	for _, m := range []string{"m", "m2", "m3"} {
		files := map[string]string{}
		for _, n := range []string{"a", "b", "c"} {
			files[m+n+".proto"] = proto3(m+n) + "// " + strings.Repeat("y", 900) + "\n"
		}
		parts = append(parts, content{owner: "acme", name: m, files: files})
	}
	_, err = c.push(ctx, nil, parts...)
	require.Equal(t, connect.CodeInvalidArgument, code(err), "request over PACKYARD_BUF_MAX_UPLOAD_SIZE: %v", err)
	require.Contains(t, err.Error(), "exceeds the limit")
	require.Equal(t, before, e.countRows(t), "nothing stored")

	// A body that is not a protobuf message.
	req, err := http.NewRequest(http.MethodPost, e.url+"/buf.registry.module.v1.UploadService/Upload", strings.NewReader("\xff\xff\xff not protobuf"))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/proto")
	res, err := e.client.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	require.Equal(t, http.StatusBadRequest, res.StatusCode, "%s", body)
	require.Contains(t, string(body), "invalid_argument")
	require.Equal(t, before, e.countRows(t))
}
