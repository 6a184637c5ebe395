package buf

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"

	modulev1 "buf.build/gen/go/bufbuild/registry/protocolbuffers/go/buf/registry/module/v1"
	modulev1beta1 "buf.build/gen/go/bufbuild/registry/protocolbuffers/go/buf/registry/module/v1beta1"
	ownerv1 "buf.build/gen/go/bufbuild/registry/protocolbuffers/go/buf/registry/owner/v1"
	"connectrpc.com/connect"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/packyard/packyard/pkg/cas"
	"github.com/packyard/packyard/pkg/config"
	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/metadata"
)

func TestLimitsConfig(t *testing.T) {
	c := DefaultConfig()
	require.Equal(t, 250, c.MaxRefsPerRequest, "the registry API's own maximum per list")
	require.Equal(t, int64(128<<20), c.MaxResponseBytes)
	c, err := ConfigFromEnv(config.Map(map[string]string{"PACKYARD_BUF_MAX_REFS_PER_REQUEST": "10", "PACKYARD_BUF_MAX_RESPONSE_BYTES": "1MiB"}))
	require.NoError(t, err)
	require.Equal(t, 10, c.MaxRefsPerRequest)
	require.Equal(t, int64(1<<20), c.MaxResponseBytes)
	for name, v := range map[string]string{"PACKYARD_BUF_MAX_REFS_PER_REQUEST": "0", "PACKYARD_BUF_MAX_RESPONSE_BYTES": "3GiB"} {
		_, err := ConfigFromEnv(config.Map(map[string]string{name: v}))
		require.ErrorContains(t, err, name)
	}
}

// TestCheckLists: every list of a request, at any depth, is held to its
// limit; an upload's files are left to PACKYARD_BUF_MAX_FILES.
func TestCheckLists(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxRefsPerRequest, cfg.MaxGraphNodes, cfg.MaxFiles = 2, 3, 4
	ids := func(n int) []string { return strings.Split(strings.Repeat("x,", n-1)+"x", ",") }
	value := func(paths int) *modulev1.DownloadRequest_Value {
		return modulev1.DownloadRequest_Value_builder{ResourceRef: v1ID("x"), Paths: ids(paths)}.Build()
	}
	content := func(files int) *modulev1.UploadRequest_Content {
		var fs []*modulev1.File
		for i := 0; i < files; i++ {
			fs = append(fs, modulev1.File_builder{Path: fmt.Sprint(i)}.Build())
		}
		return modulev1.UploadRequest_Content_builder{ModuleRef: modRef("o", "m"), Files: fs}.Build()
	}
	for _, c := range []struct {
		msg      proto.Message
		variable string // "" when the request is within its limits
	}{
		{modulev1.GetModulesRequest_builder{ModuleRefs: []*modulev1.ModuleRef{modID("a"), modID("b")}}.Build(), ""},
		{modulev1.GetModulesRequest_builder{ModuleRefs: []*modulev1.ModuleRef{modID("a"), modID("b"), modID("c")}}.Build(), "PACKYARD_BUF_MAX_REFS_PER_REQUEST"},
		{modulev1.DownloadRequest_builder{Values: []*modulev1.DownloadRequest_Value{value(4)}}.Build(), ""},
		{modulev1.DownloadRequest_builder{Values: []*modulev1.DownloadRequest_Value{value(1), value(5)}}.Build(), "PACKYARD_BUF_MAX_FILES"},
		{modulev1.UploadRequest_builder{Contents: []*modulev1.UploadRequest_Content{content(100)}, DepCommitIds: ids(3)}.Build(), ""},
		{modulev1.UploadRequest_builder{Contents: []*modulev1.UploadRequest_Content{content(1)}, DepCommitIds: ids(4)}.Build(), "PACKYARD_BUF_MAX_GRAPH_NODES"},
		{modulev1.UploadRequest_builder{Contents: []*modulev1.UploadRequest_Content{content(1), content(1), content(1)}}.Build(), "PACKYARD_BUF_MAX_REFS_PER_REQUEST"},
		{modulev1beta1.GetGraphRequest_builder{ResourceRefs: []*modulev1beta1.GetGraphRequest_ResourceRef{{}, {}, {}}}.Build(), "PACKYARD_BUF_MAX_REFS_PER_REQUEST"},
		{ownerv1.GetOwnersRequest_builder{OwnerRefs: []*ownerv1.OwnerRef{ownerID("a"), ownerID("b"), ownerID("c")}}.Build(), "PACKYARD_BUF_MAX_REFS_PER_REQUEST"},
	} {
		err := checkLists(c.msg.ProtoReflect(), cfg.listLimit)
		if c.variable == "" {
			require.NoError(t, err)
			continue
		}
		require.ErrorIs(t, err, errs.ErrResourceExhausted)
		require.Contains(t, err.Error(), c.variable)
	}
}

// TestRequestListsAreCapped: over Connect, a list over its limit is refused
// with ResourceExhausted naming the limit and its variable, on every kind of
// request the CLI sends.
func TestRequestListsAreCapped(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxRefsPerRequest = 3
	e := newEnv(t, "sqlite", cfg)
	ctx := context.Background()
	c := e.clients(e.org("acme", false, metadata.RoleWrite))
	c.create(t, "acme", "m", modulev1.ModuleVisibility_MODULE_VISIBILITY_PRIVATE)
	commits, err := c.push(ctx, nil, content{owner: "acme", name: "m", files: map[string]string{"m.proto": proto3("m")}})
	require.NoError(t, err)
	id := commits[0].GetId()
	calls := map[string]func(n int) error{
		"GetModules": func(n int) error {
			refs := make([]*modulev1.ModuleRef, n)
			for i := range refs {
				refs[i] = modRef("acme", "m")
			}
			_, err := c.module.GetModules(ctx, req(modulev1.GetModulesRequest_builder{ModuleRefs: refs}.Build()))
			return err
		},
		"GetCommits": func(n int) error {
			refs := make([]*modulev1.ResourceRef, n)
			for i := range refs {
				refs[i] = v1ID(id)
			}
			_, err := c.commit.GetCommits(ctx, req(modulev1.GetCommitsRequest_builder{ResourceRefs: refs}.Build()))
			return err
		},
		"GetGraph": func(n int) error {
			refs := make([]*modulev1.ResourceRef, n)
			for i := range refs {
				refs[i] = resRef("acme", "m", id)
			}
			_, err := c.graph.GetGraph(ctx, req(modulev1.GetGraphRequest_builder{ResourceRefs: refs}.Build()))
			return err
		},
		"Download": func(n int) error {
			vals := make([]*modulev1.DownloadRequest_Value, n)
			for i := range vals {
				vals[i] = modulev1.DownloadRequest_Value_builder{ResourceRef: v1ID(id)}.Build()
			}
			_, err := c.download.Download(ctx, req(modulev1.DownloadRequest_builder{Values: vals}.Build()))
			return err
		},
		"GetOwners": func(n int) error {
			refs := make([]*ownerv1.OwnerRef, n)
			for i := range refs {
				refs[i] = ownerName("acme")
			}
			_, err := c.owner.GetOwners(ctx, req(ownerv1.GetOwnersRequest_builder{OwnerRefs: refs}.Build()))
			return err
		},
	}
	for name, call := range calls {
		require.NoError(t, call(3), name)
		err := call(4)
		require.Equal(t, connect.CodeResourceExhausted, code(err), "%s: %v", name, err)
		require.Contains(t, message(err), "more than the limit of 3 (PACKYARD_BUF_MAX_REFS_PER_REQUEST)", name)
	}
}

// countingCAS counts the blobs read.
type countingCAS struct {
	cas.Store
	opens *atomic.Int64
}

func (c countingCAS) Open(ctx context.Context, digest string) (io.ReadSeekCloser, error) {
	c.opens.Add(1)
	return c.Store.Open(ctx, digest)
}

func (c countingCAS) ReadAll(ctx context.Context, digests []string, max int64) ([][]byte, error) {
	c.opens.Add(int64(len(digests)))
	return c.Store.ReadAll(ctx, digests, max)
}

// TestResponsesAreCapped: a download over PACKYARD_BUF_MAX_RESPONSE_BYTES
// is refused from the recorded file sizes before any file is read, also
// when each value would fit alone; any other response over the cap is
// refused too.
func TestResponsesAreCapped(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxResponseBytes = 8 << 10
	e := newEnv(t, "sqlite", cfg)
	ctx := context.Background()
	c := e.clients(e.org("acme", false, metadata.RoleWrite))
	c.create(t, "acme", "big", modulev1.ModuleVisibility_MODULE_VISIBILITY_PRIVATE)
	pad := "// " + strings.Repeat("x", 3<<10) + "\n"
	commits, err := c.push(ctx, nil, content{owner: "acme", name: "big", files: map[string]string{
		"a.proto": proto3("a") + pad, "b.proto": proto3("b") + pad, "c.proto": proto3("c") + pad}})
	require.NoError(t, err)
	var opens atomic.Int64
	e.svc.cas = countingCAS{Store: e.svc.cas, opens: &opens}
	value := func(paths ...string) *modulev1.DownloadRequest_Value {
		return modulev1.DownloadRequest_Value_builder{ResourceRef: v1ID(commits[0].GetId()), Paths: paths}.Build()
	}
	download := func(vals ...*modulev1.DownloadRequest_Value) error {
		_, err := c.download.Download(ctx, req(modulev1.DownloadRequest_builder{Values: vals}.Build()))
		return err
	}

	err = download(value())
	require.Equal(t, connect.CodeResourceExhausted, code(err), "%v", err)
	require.Contains(t, message(err), "PACKYARD_BUF_MAX_RESPONSE_BYTES")
	err = download(value("a.proto", "b.proto"), value("c.proto"))
	require.Equal(t, connect.CodeResourceExhausted, code(err), "the values together are over the cap: %v", err)
	_, err = c.downloadB.Download(ctx, req(modulev1beta1.DownloadRequest_builder{Values: []*modulev1beta1.DownloadRequest_Value{
		modulev1beta1.DownloadRequest_Value_builder{ResourceRef: v1b1ID(commits[0].GetId())}.Build()}}.Build()))
	require.Equal(t, connect.CodeResourceExhausted, code(err), "%v", err)
	require.Zero(t, opens.Load(), "refused before reading any file")

	require.NoError(t, download(value("a.proto", "b.proto")), "two files fit")
	require.Equal(t, int64(2), opens.Load())

	// Any response: 100 modules listed at once are over 8KiB.
	for b := 0; b < 4; b++ {
		vals := make([]*modulev1.CreateModulesRequest_Value, 25)
		for i := range vals {
			vals[i] = modulev1.CreateModulesRequest_Value_builder{OwnerRef: ownerName("acme"), Name: fmt.Sprintf("m%d-%d", b, i)}.Build()
		}
		_, err = c.module.CreateModules(ctx, req(modulev1.CreateModulesRequest_builder{Values: vals}.Build()))
		require.NoError(t, err)
	}
	_, err = c.module.ListModules(ctx, req(modulev1.ListModulesRequest_builder{PageSize: 100}.Build()))
	require.Equal(t, connect.CodeResourceExhausted, code(err), "%v", err)
	require.Contains(t, message(err), "PACKYARD_BUF_MAX_RESPONSE_BYTES")
	res, err := c.module.ListModules(ctx, req(modulev1.ListModulesRequest_builder{PageSize: 10}.Build()))
	require.NoError(t, err)
	require.Len(t, res.Msg.GetModules(), 10)
}
