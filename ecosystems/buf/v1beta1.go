package buf

import (
	"context"

	"buf.build/gen/go/bufbuild/registry/connectrpc/go/buf/registry/module/v1beta1/modulev1beta1connect"
	modulev1beta1 "buf.build/gen/go/bufbuild/registry/protocolbuffers/go/buf/registry/module/v1beta1"
	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/packyard/packyard/pkg/errs"
)

// v1beta1 is the buf.registry.module.v1beta1 API the CLI uses for v1
// workspaces (B4 digests) and legacy federation.
type v1beta1 struct {
	s *Service
}

var (
	_ modulev1beta1connect.CommitServiceHandler   = (*v1beta1)(nil)
	_ modulev1beta1connect.GraphServiceHandler    = (*v1beta1)(nil)
	_ modulev1beta1connect.DownloadServiceHandler = (*v1beta1)(nil)
	_ modulev1beta1connect.UploadServiceHandler   = (*v1beta1)(nil)
)

func (h *v1beta1) GetCommits(ctx context.Context, req *connect.Request[modulev1beta1.GetCommitsRequest]) (*connect.Response[modulev1beta1.GetCommitsResponse], error) {
	dt, err := digestTypeV1beta1(req.Msg.GetDigestType())
	if err != nil {
		return nil, err
	}
	commits, err := resolveCommits(ctx, h.s, req.Msg.GetResourceRefs())
	if err != nil {
		return nil, err
	}
	out := make([]*modulev1beta1.Commit, len(commits))
	for i, c := range commits {
		out[i] = commitToV1beta1(c, dt)
	}
	return connect.NewResponse(modulev1beta1.GetCommitsResponse_builder{Commits: out}.Build()), nil
}

func (h *v1beta1) ListCommits(ctx context.Context, req *connect.Request[modulev1beta1.ListCommitsRequest]) (*connect.Response[modulev1beta1.ListCommitsResponse], error) {
	dt, err := digestTypeV1beta1(req.Msg.GetDigestType())
	if err != nil {
		return nil, err
	}
	commits, next, err := listCommits(ctx, h.s, req.Msg, req.Msg.GetOrder() == modulev1beta1.ListCommitsRequest_ORDER_CREATE_TIME_ASC)
	if err != nil {
		return nil, err
	}
	out := make([]*modulev1beta1.Commit, len(commits))
	for i, c := range commits {
		out[i] = commitToV1beta1(c, dt)
	}
	return connect.NewResponse(modulev1beta1.ListCommitsResponse_builder{Commits: out, NextPageToken: next}.Build()), nil
}

func (h *v1beta1) GetGraph(ctx context.Context, req *connect.Request[modulev1beta1.GetGraphRequest]) (*connect.Response[modulev1beta1.GetGraphResponse], error) {
	dt, err := digestTypeV1beta1(req.Msg.GetDigestType())
	if err != nil {
		return nil, err
	}
	rs := req.Msg.GetResourceRefs()
	if len(rs) == 0 {
		return nil, errs.Invalidf("resource_refs is empty")
	}
	// Nodes carry the registry the client asked about, so that it finds
	// them under the name it uses for this host.
	registry := RequestHost(ctx)
	refs := make([]ResourceRef, len(rs))
	for i, r := range rs {
		if reg := r.GetRegistry(); reg != "" {
			registry = reg
		}
		ref, err := resourceRef(r.GetResourceRef())
		if err != nil {
			return nil, err
		}
		refs[i] = ref
	}
	g, err := h.s.Graph(ctx, refs)
	if err != nil {
		return nil, err
	}
	commits := make([]*modulev1beta1.Graph_Commit, len(g.Commits))
	var edges []*modulev1beta1.Graph_Edge
	for i, c := range g.Commits {
		commits[i] = modulev1beta1.Graph_Commit_builder{Commit: commitToV1beta1(c, dt), Registry: registry}.Build()
		for _, d := range g.Edges[c.ID] {
			edges = append(edges, modulev1beta1.Graph_Edge_builder{
				FromNode: modulev1beta1.Graph_Node_builder{CommitId: c.ID, Registry: registry}.Build(),
				ToNode:   modulev1beta1.Graph_Node_builder{CommitId: d, Registry: registry}.Build(),
			}.Build())
		}
	}
	return connect.NewResponse(modulev1beta1.GetGraphResponse_builder{Graph: modulev1beta1.Graph_builder{Commits: commits, Edges: edges}.Build()}.Build()), nil
}

func (h *v1beta1) Download(ctx context.Context, req *connect.Request[modulev1beta1.DownloadRequest]) (*connect.Response[modulev1beta1.DownloadResponse], error) {
	dt, err := digestTypeV1beta1(req.Msg.GetDigestType())
	if err != nil {
		return nil, err
	}
	// No v1 buf.yaml or buf.lock: B4 is the digest of the files alone.
	res := &modulev1beta1.DownloadResponse{}
	enc := func(c Commit) ([]byte, error) { return proto.Marshal(commitToV1beta1(c, dt)) }
	if err := download(ctx, h.s, req.Header(), req.Msg.GetValues(), enc, res); err != nil {
		return nil, err
	}
	return connect.NewResponse(res), nil
}

// Upload is the legacy-federation upload: dependencies name their registry,
// which must be this one.
func (h *v1beta1) Upload(ctx context.Context, req *connect.Request[modulev1beta1.UploadRequest]) (*connect.Response[modulev1beta1.UploadResponse], error) {
	host := RequestHost(ctx)
	var deps []string
	for _, d := range req.Msg.GetDepRefs() {
		if reg := d.GetRegistry(); reg != "" && host != "" && reg != host {
			return nil, errs.PreconditionFailedf("dependency %s is on registry %s; this registry only resolves its own commits", d.GetCommitId(), reg)
		}
		deps = append(deps, d.GetCommitId())
	}
	contents, err := uploadContents(req.Msg.GetContents())
	if err != nil {
		return nil, err
	}
	commits, err := h.s.Upload(ctx, contents, deps)
	if err != nil {
		return nil, err
	}
	out := make([]*modulev1beta1.Commit, len(commits))
	for i, c := range commits {
		out[i] = commitToV1beta1(c, modulev1beta1.DigestType_DIGEST_TYPE_B5)
	}
	return connect.NewResponse(modulev1beta1.UploadResponse_builder{Commits: out}.Build()), nil
}
