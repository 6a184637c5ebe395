package buf

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"buf.build/gen/go/bufbuild/registry/connectrpc/go/buf/registry/module/v1/modulev1connect"
	"buf.build/gen/go/bufbuild/registry/connectrpc/go/buf/registry/module/v1beta1/modulev1beta1connect"
	"buf.build/gen/go/bufbuild/registry/connectrpc/go/buf/registry/owner/v1/ownerv1connect"
	modulev1 "buf.build/gen/go/bufbuild/registry/protocolbuffers/go/buf/registry/module/v1"
	modulev1beta1 "buf.build/gen/go/bufbuild/registry/protocolbuffers/go/buf/registry/module/v1beta1"
	ownerv1 "buf.build/gen/go/bufbuild/registry/protocolbuffers/go/buf/registry/owner/v1"
	"connectrpc.com/connect"
	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/ecosystems/buf/module"
	"github.com/packyard/packyard/pkg/metadata"
)

// clients are Connect clients of the registry with one token (or none).
type clients struct {
	module    modulev1connect.ModuleServiceClient
	upload    modulev1connect.UploadServiceClient
	commit    modulev1connect.CommitServiceClient
	label     modulev1connect.LabelServiceClient
	graph     modulev1connect.GraphServiceClient
	download  modulev1connect.DownloadServiceClient
	resource  modulev1connect.ResourceServiceClient
	commitB   modulev1beta1connect.CommitServiceClient
	graphB    modulev1beta1connect.GraphServiceClient
	downloadB modulev1beta1connect.DownloadServiceClient
	uploadB   modulev1beta1connect.UploadServiceClient
	owner     ownerv1connect.OwnerServiceClient
	org       ownerv1connect.OrganizationServiceClient
	user      ownerv1connect.UserServiceClient
}

type bearer string

func (b bearer) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if b != "" {
			req.Header().Set("Authorization", "Bearer "+string(b))
		}
		return next(ctx, req)
	}
}
func (b bearer) WrapStreamingClient(n connect.StreamingClientFunc) connect.StreamingClientFunc {
	return n
}
func (b bearer) WrapStreamingHandler(n connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return n
}

func (e *env) clients(token string) clients {
	u, hc := e.url, e.client
	o := connect.WithInterceptors(bearer(token))
	return clients{
		module:    modulev1connect.NewModuleServiceClient(hc, u, o),
		upload:    modulev1connect.NewUploadServiceClient(hc, u, o),
		commit:    modulev1connect.NewCommitServiceClient(hc, u, o),
		label:     modulev1connect.NewLabelServiceClient(hc, u, o),
		graph:     modulev1connect.NewGraphServiceClient(hc, u, o),
		download:  modulev1connect.NewDownloadServiceClient(hc, u, o),
		resource:  modulev1connect.NewResourceServiceClient(hc, u, o),
		commitB:   modulev1beta1connect.NewCommitServiceClient(hc, u, o),
		graphB:    modulev1beta1connect.NewGraphServiceClient(hc, u, o),
		downloadB: modulev1beta1connect.NewDownloadServiceClient(hc, u, o),
		uploadB:   modulev1beta1connect.NewUploadServiceClient(hc, u, o),
		owner:     ownerv1connect.NewOwnerServiceClient(hc, u, o),
		org:       ownerv1connect.NewOrganizationServiceClient(hc, u, o),
		user:      ownerv1connect.NewUserServiceClient(hc, u, o),
	}
}

func code(err error) connect.Code {
	var ce *connect.Error
	if errors.As(err, &ce) {
		return ce.Code()
	}
	return 0
}

func modRef(owner, name string) *modulev1.ModuleRef {
	return modulev1.ModuleRef_builder{Name: modulev1.ModuleRef_Name_builder{Owner: owner, Module: name}.Build()}.Build()
}

func resRef(owner, name, ref string) *modulev1.ResourceRef {
	return modulev1.ResourceRef_builder{Name: modulev1.ResourceRef_Name_builder{Owner: owner, Module: name, Ref: &ref}.Build()}.Build()
}

func (c clients) create(t testing.TB, owner, name string, vis modulev1.ModuleVisibility) *modulev1.Module {
	t.Helper()
	res, err := c.module.CreateModules(context.Background(), connect.NewRequest(modulev1.CreateModulesRequest_builder{
		Values: []*modulev1.CreateModulesRequest_Value{modulev1.CreateModulesRequest_Value_builder{
			OwnerRef: ownerv1.OwnerRef_builder{Name: &owner}.Build(), Name: name, Visibility: vis,
		}.Build()},
	}.Build()))
	require.NoError(t, err)
	return res.Msg.GetModules()[0]
}

type content struct {
	owner, name string
	files       map[string]string
	labels      []string
}

func (c clients) push(ctx context.Context, deps []string, contents ...content) ([]*modulev1.Commit, error) {
	var cs []*modulev1.UploadRequest_Content
	for _, ct := range contents {
		var files []*modulev1.File
		for p, s := range ct.files {
			files = append(files, modulev1.File_builder{Path: p, Content: []byte(s)}.Build())
		}
		var labels []*modulev1.ScopedLabelRef
		for _, l := range ct.labels {
			labels = append(labels, modulev1.ScopedLabelRef_builder{Name: &l}.Build())
		}
		cs = append(cs, modulev1.UploadRequest_Content_builder{ModuleRef: modRef(ct.owner, ct.name), Files: files, ScopedLabelRefs: labels}.Build())
	}
	res, err := c.upload.Upload(ctx, connect.NewRequest(modulev1.UploadRequest_builder{Contents: cs, DepCommitIds: deps}.Build()))
	if err != nil {
		return nil, err
	}
	return res.Msg.GetCommits(), nil
}

func proto3(pkg string, imports ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "syntax = \"proto3\";\npackage %s;\n", pkg)
	for _, i := range imports {
		fmt.Fprintf(&b, "import %q;\n", i)
	}
	fmt.Fprintf(&b, "message %s { string id = 1; }\n", strings.ToUpper(pkg[:1])+pkg[1:])
	return b.String()
}

func testAPI(t *testing.T, dialect string) {
	e := newEnv(t, dialect, DefaultConfig())
	ctx := context.Background()
	tok := e.org("acme", false, metadata.RoleWrite)
	c := e.clients(tok)
	anon := e.clients("")

	// Modules: create, AlreadyExists, NotFound.
	base := c.create(t, "acme", "base", modulev1.ModuleVisibility_MODULE_VISIBILITY_UNSPECIFIED)
	require.Equal(t, modulev1.ModuleVisibility_MODULE_VISIBILITY_PRIVATE, base.GetVisibility())
	require.Equal(t, "main", base.GetDefaultLabelName())
	_, err := c.module.CreateModules(ctx, connect.NewRequest(modulev1.CreateModulesRequest_builder{
		Values: []*modulev1.CreateModulesRequest_Value{modulev1.CreateModulesRequest_Value_builder{
			OwnerRef: ownerv1.OwnerRef_builder{Name: ptr("acme")}.Build(), Name: "base"}.Build()}}.Build()))
	require.Equal(t, connect.CodeAlreadyExists, code(err), "%v", err)
	_, err = c.module.GetModules(ctx, connect.NewRequest(modulev1.GetModulesRequest_builder{ModuleRefs: []*modulev1.ModuleRef{modRef("acme", "nope")}}.Build()))
	require.Equal(t, connect.CodeNotFound, code(err))
	// Public modules are created with an admin token (visibility is an admin act).
	orgAdmin := e.clients(e.token("acme", metadata.RoleAdmin))
	orgAdmin.create(t, "acme", "left", modulev1.ModuleVisibility_MODULE_VISIBILITY_PUBLIC)
	orgAdmin.create(t, "acme", "right", modulev1.ModuleVisibility_MODULE_VISIBILITY_PUBLIC)
	orgAdmin.create(t, "acme", "top", modulev1.ModuleVisibility_MODULE_VISIBILITY_PUBLIC)

	// No commits yet: FailedPrecondition.
	_, err = c.commit.GetCommits(ctx, connect.NewRequest(modulev1.GetCommitsRequest_builder{ResourceRefs: []*modulev1.ResourceRef{resRef("acme", "base", "")}}.Build()))
	require.Equal(t, connect.CodeFailedPrecondition, code(err), "%v", err)

	// Push base, then a diamond over it in one request.
	baseFiles := map[string]string{"base/base.proto": proto3("base"), "LICENSE": "MIT", "README.md": "# base"}
	b1, err := c.push(ctx, nil, content{owner: "acme", name: "base", files: baseFiles})
	require.NoError(t, err)
	require.Len(t, b1, 1)
	again, err := c.push(ctx, nil, content{owner: "acme", name: "base", files: baseFiles})
	require.NoError(t, err)
	require.Equal(t, b1[0].GetId(), again[0].GetId(), "identical content gives the same commit")

	diamond, err := c.push(ctx, []string{b1[0].GetId()},
		content{owner: "acme", name: "top", files: map[string]string{"top.proto": proto3("top", "left.proto", "right.proto")}},
		content{owner: "acme", name: "left", files: map[string]string{"left.proto": proto3("left", "base/base.proto")}},
		content{owner: "acme", name: "right", files: map[string]string{"right.proto": proto3("right", "base/base.proto", "google/protobuf/timestamp.proto")}},
	)
	require.NoError(t, err)
	require.Len(t, diamond, 3)

	// Digests: B5 of left = files digest + base's B5.
	leftFiles, err := module.FilesDigest([]module.FileDigest{{Path: "left.proto", Shake256: hex.EncodeToString(module.Shake256([]byte(proto3("left", "base/base.proto"))))}})
	require.NoError(t, err)
	require.Equal(t, module.B5(leftFiles, [][]byte{b1[0].GetDigest().GetValue()}), diamond[1].GetDigest().GetValue())
	topFiles, err := module.FilesDigest([]module.FileDigest{{Path: "top.proto", Shake256: hex.EncodeToString(module.Shake256([]byte(proto3("top", "left.proto", "right.proto"))))}})
	require.NoError(t, err)
	require.Equal(t, module.B5(topFiles, [][]byte{b1[0].GetDigest().GetValue(), diamond[1].GetDigest().GetValue(), diamond[2].GetDigest().GetValue()}),
		diamond[0].GetDigest().GetValue(), "B5 covers direct and transitive deps once each")

	// Graph of top: 4 nodes, 4 edges, per-module deps.
	g, err := anon.graph.GetGraph(ctx, connect.NewRequest(modulev1.GetGraphRequest_builder{ResourceRefs: []*modulev1.ResourceRef{resRef("acme", "top", diamond[0].GetId())}}.Build()))
	require.Equal(t, connect.CodeUnauthenticated, code(err), "top is public but its dependency base is private: %v", err)
	g, err = c.graph.GetGraph(ctx, connect.NewRequest(modulev1.GetGraphRequest_builder{ResourceRefs: []*modulev1.ResourceRef{resRef("acme", "top", diamond[0].GetId())}}.Build()))
	require.NoError(t, err)
	require.Len(t, g.Msg.GetGraph().GetCommits(), 4)
	edges := map[string]bool{}
	for _, ed := range g.Msg.GetGraph().GetEdges() {
		edges[ed.GetFromNode().GetCommitId()+">"+ed.GetToNode().GetCommitId()] = true
	}
	require.Equal(t, map[string]bool{
		diamond[0].GetId() + ">" + diamond[1].GetId(): true, diamond[0].GetId() + ">" + diamond[2].GetId(): true,
		diamond[1].GetId() + ">" + b1[0].GetId(): true, diamond[2].GetId() + ">" + b1[0].GetId(): true,
	}, edges)

	// v1beta1: B4 of base = files-only manifest digest; registry echoes the host.
	gb, err := c.graphB.GetGraph(ctx, connect.NewRequest(modulev1beta1.GetGraphRequest_builder{
		DigestType: modulev1beta1.DigestType_DIGEST_TYPE_B4,
		ResourceRefs: []*modulev1beta1.GetGraphRequest_ResourceRef{modulev1beta1.GetGraphRequest_ResourceRef_builder{
			ResourceRef: modulev1beta1.ResourceRef_builder{Id: ptr(diamond[1].GetId())}.Build(),
		}.Build()},
	}.Build()))
	require.NoError(t, err)
	host := strings.TrimPrefix(e.url, "http://")
	require.Len(t, gb.Msg.GetGraph().GetCommits(), 2)
	for _, gc := range gb.Msg.GetGraph().GetCommits() {
		require.Equal(t, host, gc.GetRegistry())
		require.Equal(t, modulev1beta1.DigestType_DIGEST_TYPE_B4, gc.GetCommit().GetDigest().GetType())
	}
	var fds []module.FileDigest
	for p, s := range baseFiles {
		fds = append(fds, module.FileDigest{Path: p, Shake256: hex.EncodeToString(module.Shake256([]byte(s)))})
	}
	b4, err := module.FilesDigest(fds)
	require.NoError(t, err)
	cb, err := c.commitB.GetCommits(ctx, connect.NewRequest(modulev1beta1.GetCommitsRequest_builder{
		DigestType:   modulev1beta1.DigestType_DIGEST_TYPE_B4,
		ResourceRefs: []*modulev1beta1.ResourceRef{modulev1beta1.ResourceRef_builder{Id: ptr(b1[0].GetId())}.Build()},
	}.Build()))
	require.NoError(t, err)
	require.Equal(t, b4, cb.Msg.GetCommits()[0].GetDigest().GetValue())

	// Download by label (default), by commit id, and filtered.
	d, err := c.download.Download(ctx, connect.NewRequest(modulev1.DownloadRequest_builder{Values: []*modulev1.DownloadRequest_Value{
		modulev1.DownloadRequest_Value_builder{ResourceRef: resRef("acme", "base", "")}.Build(),
		modulev1.DownloadRequest_Value_builder{ResourceRef: modulev1.ResourceRef_builder{Id: ptr(b1[0].GetId())}.Build(),
			FileTypes: []modulev1.FileType{modulev1.FileType_FILE_TYPE_PROTO}}.Build(),
	}}.Build()))
	require.NoError(t, err)
	got := map[string]string{}
	for _, f := range d.Msg.GetContents()[0].GetFiles() {
		got[f.GetPath()] = string(f.GetContent())
	}
	require.Equal(t, baseFiles, got)
	require.Len(t, d.Msg.GetContents()[1].GetFiles(), 1)
	require.Equal(t, "base/base.proto", d.Msg.GetContents()[1].GetFiles()[0].GetPath())

	// Labels: push with --label, history, archive, resolve by commit.
	base2Files := map[string]string{"base/base.proto": proto3("base") + "// v2\n"}
	b2, err := c.push(ctx, nil, content{owner: "acme", name: "base", files: base2Files, labels: []string{"v2"}})
	require.NoError(t, err)
	res, err := c.commit.GetCommits(ctx, connect.NewRequest(modulev1.GetCommitsRequest_builder{ResourceRefs: []*modulev1.ResourceRef{
		resRef("acme", "base", ""), resRef("acme", "base", "v2"), resRef("acme", "base", b1[0].GetId()),
	}}.Build()))
	require.NoError(t, err)
	require.Equal(t, []string{b1[0].GetId(), b2[0].GetId(), b1[0].GetId()},
		[]string{res.Msg.GetCommits()[0].GetId(), res.Msg.GetCommits()[1].GetId(), res.Msg.GetCommits()[2].GetId()},
		"default label stays on b1; v2 on b2; commit ids resolve")
	_, err = c.label.CreateOrUpdateLabels(ctx, connect.NewRequest(modulev1.CreateOrUpdateLabelsRequest_builder{Values: []*modulev1.CreateOrUpdateLabelsRequest_Value{
		modulev1.CreateOrUpdateLabelsRequest_Value_builder{LabelRef: labelRef("acme", "base", "main"), CommitId: b2[0].GetId()}.Build(),
	}}.Build()))
	require.NoError(t, err)
	hist, err := c.label.ListLabelHistory(ctx, connect.NewRequest(modulev1.ListLabelHistoryRequest_builder{LabelRef: labelRef("acme", "base", "main")}.Build()))
	require.NoError(t, err)
	require.Len(t, hist.Msg.GetValues(), 2)
	require.Equal(t, b2[0].GetId(), hist.Msg.GetValues()[0].GetCommit().GetId(), "newest first")
	_, err = c.label.ArchiveLabels(ctx, connect.NewRequest(modulev1.ArchiveLabelsRequest_builder{LabelRefs: []*modulev1.LabelRef{labelRef("acme", "base", "main")}}.Build()))
	require.Equal(t, connect.CodeFailedPrecondition, code(err), "default label cannot be archived")
	_, err = c.label.ArchiveLabels(ctx, connect.NewRequest(modulev1.ArchiveLabelsRequest_builder{LabelRefs: []*modulev1.LabelRef{labelRef("acme", "base", "v2")}}.Build()))
	require.NoError(t, err)
	ll, err := c.label.ListLabels(ctx, connect.NewRequest(modulev1.ListLabelsRequest_builder{ResourceRef: resRef("acme", "base", "")}.Build()))
	require.NoError(t, err)
	require.Len(t, ll.Msg.GetLabels(), 1)
	ll, err = c.label.ListLabels(ctx, connect.NewRequest(modulev1.ListLabelsRequest_builder{ResourceRef: resRef("acme", "base", ""),
		ArchiveFilter: modulev1.ListLabelsRequest_ARCHIVE_FILTER_ALL}.Build()))
	require.NoError(t, err)
	require.Len(t, ll.Msg.GetLabels(), 2)
	lc, err := c.commit.ListCommits(ctx, connect.NewRequest(modulev1.ListCommitsRequest_builder{ResourceRef: resRef("acme", "base", ""), PageSize: 1}.Build()))
	require.NoError(t, err)
	require.Len(t, lc.Msg.GetCommits(), 1)
	require.Equal(t, b2[0].GetId(), lc.Msg.GetCommits()[0].GetId())
	require.NotEmpty(t, lc.Msg.GetNextPageToken())

	// Authorization: anonymous sees public modules only; another org's
	// token sees nothing private and cannot push.
	_, err = anon.module.GetModules(ctx, connect.NewRequest(modulev1.GetModulesRequest_builder{ModuleRefs: []*modulev1.ModuleRef{modRef("acme", "top")}}.Build()))
	require.NoError(t, err)
	_, err = anon.module.GetModules(ctx, connect.NewRequest(modulev1.GetModulesRequest_builder{ModuleRefs: []*modulev1.ModuleRef{modRef("acme", "base")}}.Build()))
	require.Equal(t, connect.CodeUnauthenticated, code(err), "%v", err)
	other := e.clients(e.org("other", false, metadata.RoleAdmin))
	_, err = other.module.GetModules(ctx, connect.NewRequest(modulev1.GetModulesRequest_builder{ModuleRefs: []*modulev1.ModuleRef{modRef("acme", "base")}}.Build()))
	require.Equal(t, connect.CodeNotFound, code(err))
	_, err = other.push(ctx, nil, content{owner: "acme", name: "top", files: map[string]string{"x.proto": proto3("x")}})
	require.Equal(t, connect.CodeNotFound, code(err), "%v", err)
	reader := e.clients(e.token("acme", metadata.RoleRead))
	_, err = reader.push(ctx, nil, content{owner: "acme", name: "base", files: map[string]string{"x.proto": proto3("x")}})
	require.Equal(t, connect.CodePermissionDenied, code(err), "%v", err)
	_, err = reader.download.Download(ctx, connect.NewRequest(modulev1.DownloadRequest_builder{Values: []*modulev1.DownloadRequest_Value{
		modulev1.DownloadRequest_Value_builder{ResourceRef: resRef("acme", "base", "")}.Build()}}.Build()))
	require.NoError(t, err)

	// Bad input: nothing stored.
	before := e.countRows(t)
	for name, ct := range map[string]content{
		"invalid proto":  {owner: "acme", name: "base", files: map[string]string{"a.proto": "syntax = \"proto3\"; message {"}},
		"escaping path":  {owner: "acme", name: "base", files: map[string]string{"../a.proto": proto3("a")}},
		"unknown import": {owner: "acme", name: "base", files: map[string]string{"a.proto": proto3("a", "nowhere.proto")}},
		"buf.yaml":       {owner: "acme", name: "base", files: map[string]string{"a.proto": proto3("a"), "buf.yaml": "version: v2"}},
	} {
		_, err := c.push(ctx, nil, ct)
		require.Error(t, err, name)
		require.Contains(t, []connect.Code{connect.CodeInvalidArgument, connect.CodeFailedPrecondition}, code(err), "%s: %v", name, err)
	}
	_, err = c.push(ctx, []string{"0123456789abcdef0123456789abcdef"}, content{owner: "acme", name: "left", files: map[string]string{"l.proto": proto3("l")}})
	require.Equal(t, connect.CodeFailedPrecondition, code(err), "%v", err)
	require.Equal(t, before, e.countRows(t))

	// Delete: base is a dependency; top can go, and its name starts empty.
	_, err = c.module.DeleteModules(ctx, connect.NewRequest(modulev1.DeleteModulesRequest_builder{ModuleRefs: []*modulev1.ModuleRef{modRef("acme", "base")}}.Build()))
	require.Error(t, err)
	admin := e.clients(e.token("acme", metadata.RoleAdmin))
	_, err = admin.module.DeleteModules(ctx, connect.NewRequest(modulev1.DeleteModulesRequest_builder{ModuleRefs: []*modulev1.ModuleRef{modRef("acme", "base")}}.Build()))
	require.Equal(t, connect.CodeFailedPrecondition, code(err), "%v", err)
	_, err = admin.module.DeleteModules(ctx, connect.NewRequest(modulev1.DeleteModulesRequest_builder{ModuleRefs: []*modulev1.ModuleRef{modRef("acme", "top")}}.Build()))
	require.NoError(t, err)
	admin.create(t, "acme", "top", modulev1.ModuleVisibility_MODULE_VISIBILITY_PUBLIC)
	_, err = c.commit.GetCommits(ctx, connect.NewRequest(modulev1.GetCommitsRequest_builder{ResourceRefs: []*modulev1.ResourceRef{resRef("acme", "top", "")}}.Build()))
	require.Equal(t, connect.CodeFailedPrecondition, code(err))

	// Owners and users.
	cu, err := c.user.GetCurrentUser(ctx, connect.NewRequest(&ownerv1.GetCurrentUserRequest{}))
	require.NoError(t, err)
	require.Equal(t, "acme-bot", cu.Msg.GetUser().GetName())
	_, err = anon.user.GetCurrentUser(ctx, connect.NewRequest(&ownerv1.GetCurrentUserRequest{}))
	require.Equal(t, connect.CodeUnauthenticated, code(err))
	ow, err := anon.owner.GetOwners(ctx, connect.NewRequest(ownerv1.GetOwnersRequest_builder{OwnerRefs: []*ownerv1.OwnerRef{ownerv1.OwnerRef_builder{Id: ptr(base.GetOwnerId())}.Build()}}.Build()))
	require.NoError(t, err, "an owner with public modules is visible")
	require.Equal(t, "acme", ow.Msg.GetOwners()[0].GetOrganization().GetName())
}

func labelRef(owner, module, label string) *modulev1.LabelRef {
	return modulev1.LabelRef_builder{Name: modulev1.LabelRef_Name_builder{Owner: owner, Module: module, Label: label}.Build()}.Build()
}

func ptr[T any](v T) *T { return &v }

func (e *env) countRows(t *testing.T) map[string]int {
	out := map[string]int{}
	for _, tbl := range []string{"buf_commits", "buf_commit_files", "buf_commit_deps", "buf_labels", "buf_label_history", "blob_refs"} {
		var n int
		require.NoError(t, e.db.QueryRow(context.Background(), "SELECT COUNT(*) FROM "+tbl).Scan(&n))
		out[tbl] = n
	}
	return out
}

func TestAPISQLite(t *testing.T)   { testAPI(t, "sqlite") }
func TestAPIPostgres(t *testing.T) { testAPI(t, "postgres") }

var _ = http.MethodPost
