package buf

import (
	"context"

	"buf.build/gen/go/bufbuild/registry/connectrpc/go/buf/registry/module/v1/modulev1connect"
	modulev1 "buf.build/gen/go/bufbuild/registry/protocolbuffers/go/buf/registry/module/v1"
	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/packyard/packyard/pkg/errs"
)

// v1 is the buf.registry.module.v1 API over the Service.
type v1 struct {
	modulev1connect.UnimplementedFileDescriptorSetServiceHandler
	s *Service
}

var (
	_ modulev1connect.ModuleServiceHandler   = (*v1Module)(nil)
	_ modulev1connect.CommitServiceHandler   = (*v1)(nil)
	_ modulev1connect.LabelServiceHandler    = (*v1)(nil)
	_ modulev1connect.ResourceServiceHandler = (*v1)(nil)
	_ modulev1connect.GraphServiceHandler    = (*v1)(nil)
	_ modulev1connect.DownloadServiceHandler = (*v1)(nil)
	_ modulev1connect.UploadServiceHandler   = (*v1)(nil)
)

// v1Module is the v1 ModuleService (the v1 type serves the others).
type v1Module struct{ s *Service }

func (h *v1Module) GetModules(ctx context.Context, req *connect.Request[modulev1.GetModulesRequest]) (*connect.Response[modulev1.GetModulesResponse], error) {
	refs := req.Msg.GetModuleRefs()
	if len(refs) == 0 {
		return nil, errs.Invalidf("module_refs is empty")
	}
	out := make([]*modulev1.Module, 0, len(refs))
	for _, r := range refs {
		ref, err := moduleRef(r)
		if err != nil {
			return nil, err
		}
		m, _, err := h.s.module(ctx, ref)
		if err != nil {
			return nil, err
		}
		out = append(out, moduleToV1(m))
	}
	return connect.NewResponse(modulev1.GetModulesResponse_builder{Modules: out}.Build()), nil
}

func (h *v1Module) ListModules(ctx context.Context, req *connect.Request[modulev1.ListModulesRequest]) (*connect.Response[modulev1.ListModulesResponse], error) {
	var owners []OwnerRef
	for _, r := range req.Msg.GetOwnerRefs() {
		o, err := ownerRef(r, "an owner")
		if err != nil {
			return nil, err
		}
		owners = append(owners, o)
	}
	desc, byUpdate := listOrder(req.Msg.GetOrder())
	p, err := pageFrom(req.Msg.GetPageSize(), req.Msg.GetPageToken(), desc)
	if err != nil {
		return nil, err
	}
	mods, err := h.s.ListModules(ctx, owners, byUpdate, p)
	if err != nil {
		return nil, err
	}
	out := make([]*modulev1.Module, len(mods))
	for i, m := range mods {
		out[i] = moduleToV1(m)
	}
	// The offset counts modules scanned, visible or not: approximate but monotonic.
	return connect.NewResponse(modulev1.ListModulesResponse_builder{Modules: out, NextPageToken: nextToken(p, len(mods))}.Build()), nil
}

func (h *v1Module) CreateModules(ctx context.Context, req *connect.Request[modulev1.CreateModulesRequest]) (*connect.Response[modulev1.CreateModulesResponse], error) {
	vals := req.Msg.GetValues()
	if len(vals) == 0 {
		return nil, errs.Invalidf("values is empty")
	}
	out := make([]*modulev1.Module, 0, len(vals))
	for _, v := range vals {
		o, err := ownerRef(v.GetOwnerRef(), "an owner")
		if err != nil {
			return nil, err
		}
		m, err := h.s.CreateModule(ctx, NewModule{Owner: o, Name: v.GetName(), Visibility: int(v.GetVisibility()),
			Description: v.GetDescription(), URL: v.GetUrl(), DefaultLabel: v.GetDefaultLabelName()})
		if err != nil {
			return nil, err
		}
		out = append(out, moduleToV1(m))
	}
	return connect.NewResponse(modulev1.CreateModulesResponse_builder{Modules: out}.Build()), nil
}

func (h *v1Module) UpdateModules(ctx context.Context, req *connect.Request[modulev1.UpdateModulesRequest]) (*connect.Response[modulev1.UpdateModulesResponse], error) {
	vals := req.Msg.GetValues()
	if len(vals) == 0 {
		return nil, errs.Invalidf("values is empty")
	}
	out := make([]*modulev1.Module, 0, len(vals))
	for _, v := range vals {
		ref, err := moduleRef(v.GetModuleRef())
		if err != nil {
			return nil, err
		}
		u := ModuleUpdate{Ref: ref}
		if v.HasVisibility() {
			x := int(v.GetVisibility())
			u.Visibility = &x
		}
		if v.HasState() {
			x := int(v.GetState())
			u.State = &x
		}
		if v.HasDescription() {
			x := v.GetDescription()
			u.Description = &x
		}
		if v.HasUrl() {
			x := v.GetUrl()
			u.URL = &x
		}
		if v.HasDefaultLabelName() {
			x := v.GetDefaultLabelName()
			u.DefaultLabel = &x
		}
		m, err := h.s.UpdateModule(ctx, u)
		if err != nil {
			return nil, err
		}
		out = append(out, moduleToV1(m))
	}
	return connect.NewResponse(modulev1.UpdateModulesResponse_builder{Modules: out}.Build()), nil
}

func (h *v1Module) DeleteModules(ctx context.Context, req *connect.Request[modulev1.DeleteModulesRequest]) (*connect.Response[modulev1.DeleteModulesResponse], error) {
	var refs []ModuleRef
	for _, r := range req.Msg.GetModuleRefs() {
		ref, err := moduleRef(r)
		if err != nil {
			return nil, err
		}
		refs = append(refs, ref)
	}
	if len(refs) == 0 {
		return nil, errs.Invalidf("module_refs is empty")
	}
	if err := h.s.DeleteModules(ctx, refs); err != nil {
		return nil, err
	}
	return connect.NewResponse(&modulev1.DeleteModulesResponse{}), nil
}

// ---- CommitService ----

func (h *v1) GetCommits(ctx context.Context, req *connect.Request[modulev1.GetCommitsRequest]) (*connect.Response[modulev1.GetCommitsResponse], error) {
	commits, err := resolveCommits(ctx, h.s, req.Msg.GetResourceRefs())
	if err != nil {
		return nil, err
	}
	out := make([]*modulev1.Commit, len(commits))
	for i, c := range commits {
		out[i] = commitToV1(c)
	}
	return connect.NewResponse(modulev1.GetCommitsResponse_builder{Commits: out}.Build()), nil
}

func (h *v1) ListCommits(ctx context.Context, req *connect.Request[modulev1.ListCommitsRequest]) (*connect.Response[modulev1.ListCommitsResponse], error) {
	commits, next, err := listCommits(ctx, h.s, req.Msg, req.Msg.GetOrder() == modulev1.ListCommitsRequest_ORDER_CREATE_TIME_ASC)
	if err != nil {
		return nil, err
	}
	out := make([]*modulev1.Commit, len(commits))
	for i, c := range commits {
		out[i] = commitToV1(c)
	}
	return connect.NewResponse(modulev1.ListCommitsResponse_builder{Commits: out, NextPageToken: next}.Build()), nil
}

// ---- LabelService ----

func (h *v1) GetLabels(ctx context.Context, req *connect.Request[modulev1.GetLabelsRequest]) (*connect.Response[modulev1.GetLabelsResponse], error) {
	refs := req.Msg.GetLabelRefs()
	if len(refs) == 0 {
		return nil, errs.Invalidf("label_refs is empty")
	}
	out := make([]*modulev1.Label, 0, len(refs))
	for _, r := range refs {
		ref, err := labelRefFromV1(r)
		if err != nil {
			return nil, err
		}
		l, err := h.s.GetLabel(ctx, ref)
		if err != nil {
			return nil, err
		}
		out = append(out, labelToV1(l))
	}
	return connect.NewResponse(modulev1.GetLabelsResponse_builder{Labels: out}.Build()), nil
}

func (h *v1) ListLabels(ctx context.Context, req *connect.Request[modulev1.ListLabelsRequest]) (*connect.Response[modulev1.ListLabelsResponse], error) {
	ref, err := resourceRef(req.Msg.GetResourceRef())
	if err != nil {
		return nil, err
	}
	desc, byUpdate := listOrder(req.Msg.GetOrder())
	p, err := pageFrom(req.Msg.GetPageSize(), req.Msg.GetPageToken(), desc)
	if err != nil {
		return nil, err
	}
	archived := archivedExclude
	switch req.Msg.GetArchiveFilter() {
	case modulev1.ListLabelsRequest_ARCHIVE_FILTER_ARCHIVED_ONLY:
		archived = archivedOnly
	case modulev1.ListLabelsRequest_ARCHIVE_FILTER_ALL:
		archived = archivedAll
	}
	labels, err := h.s.ListLabels(ctx, ref, req.Msg.GetNameQuery(), archived, byUpdate, p)
	if err != nil {
		return nil, err
	}
	out := make([]*modulev1.Label, len(labels))
	for i, l := range labels {
		out[i] = labelToV1(l)
	}
	return connect.NewResponse(modulev1.ListLabelsResponse_builder{Labels: out, NextPageToken: nextToken(p, len(labels))}.Build()), nil
}

func (h *v1) ListLabelHistory(ctx context.Context, req *connect.Request[modulev1.ListLabelHistoryRequest]) (*connect.Response[modulev1.ListLabelHistoryResponse], error) {
	ref, err := labelRefFromV1(req.Msg.GetLabelRef())
	if err != nil {
		return nil, err
	}
	p, err := pageFrom(req.Msg.GetPageSize(), req.Msg.GetPageToken(), req.Msg.GetOrder() != modulev1.ListLabelHistoryRequest_ORDER_ASC)
	if err != nil {
		return nil, err
	}
	commits, err := h.s.LabelHistory(ctx, ref, p)
	if err != nil {
		return nil, err
	}
	vals := make([]*modulev1.ListLabelHistoryResponse_Value, len(commits))
	for i, c := range commits {
		vals[i] = modulev1.ListLabelHistoryResponse_Value_builder{
			Commit: commitToV1(c),
			CommitCheckState: modulev1.CommitCheckState_builder{
				Status: modulev1.CommitCheckStatus_COMMIT_CHECK_STATUS_DISABLED, UpdateTime: ts(c.CreatedAt),
			}.Build(),
		}.Build()
	}
	return connect.NewResponse(modulev1.ListLabelHistoryResponse_builder{Values: vals, NextPageToken: nextToken(p, len(commits))}.Build()), nil
}

func (h *v1) CreateOrUpdateLabels(ctx context.Context, req *connect.Request[modulev1.CreateOrUpdateLabelsRequest]) (*connect.Response[modulev1.CreateOrUpdateLabelsResponse], error) {
	vals := req.Msg.GetValues()
	if len(vals) == 0 {
		return nil, errs.Invalidf("values is empty")
	}
	out := make([]*modulev1.Label, 0, len(vals))
	for _, v := range vals {
		ref, err := labelRefFromV1(v.GetLabelRef())
		if err != nil {
			return nil, err
		}
		l, err := h.s.SetLabel(ctx, ref, v.GetCommitId())
		if err != nil {
			return nil, err
		}
		out = append(out, labelToV1(l))
	}
	return connect.NewResponse(modulev1.CreateOrUpdateLabelsResponse_builder{Labels: out}.Build()), nil
}

func (h *v1) ArchiveLabels(ctx context.Context, req *connect.Request[modulev1.ArchiveLabelsRequest]) (*connect.Response[modulev1.ArchiveLabelsResponse], error) {
	if err := h.archive(ctx, req.Msg.GetLabelRefs(), true); err != nil {
		return nil, err
	}
	return connect.NewResponse(&modulev1.ArchiveLabelsResponse{}), nil
}

func (h *v1) UnarchiveLabels(ctx context.Context, req *connect.Request[modulev1.UnarchiveLabelsRequest]) (*connect.Response[modulev1.UnarchiveLabelsResponse], error) {
	if err := h.archive(ctx, req.Msg.GetLabelRefs(), false); err != nil {
		return nil, err
	}
	return connect.NewResponse(&modulev1.UnarchiveLabelsResponse{}), nil
}

func (h *v1) archive(ctx context.Context, refs []*modulev1.LabelRef, archive bool) error {
	if len(refs) == 0 {
		return errs.Invalidf("label_refs is empty")
	}
	for _, r := range refs {
		ref, err := labelRefFromV1(r)
		if err != nil {
			return err
		}
		if err := h.s.ArchiveLabel(ctx, ref, archive); err != nil {
			return err
		}
	}
	return nil
}

// ---- ResourceService ----

func (h *v1) GetResources(ctx context.Context, req *connect.Request[modulev1.GetResourcesRequest]) (*connect.Response[modulev1.GetResourcesResponse], error) {
	refs := req.Msg.GetResourceRefs()
	if len(refs) == 0 {
		return nil, errs.Invalidf("resource_refs is empty")
	}
	out := make([]*modulev1.Resource, 0, len(refs))
	for _, r := range refs {
		ref, err := resourceRef(r)
		if err != nil {
			return nil, err
		}
		res, err := h.s.resolve(ctx, ref)
		if err != nil {
			return nil, err
		}
		switch {
		case res.Commit != nil:
			out = append(out, modulev1.Resource_builder{Commit: commitToV1(*res.Commit)}.Build())
		case res.Label != nil:
			out = append(out, modulev1.Resource_builder{Label: labelToV1(*res.Label)}.Build())
		default:
			out = append(out, modulev1.Resource_builder{Module: moduleToV1(res.Module)}.Build())
		}
	}
	return connect.NewResponse(modulev1.GetResourcesResponse_builder{Resources: out}.Build()), nil
}

// ---- GraphService ----

func (h *v1) GetGraph(ctx context.Context, req *connect.Request[modulev1.GetGraphRequest]) (*connect.Response[modulev1.GetGraphResponse], error) {
	refs, err := resourceRefs(req.Msg.GetResourceRefs())
	if err != nil {
		return nil, err
	}
	g, err := h.s.Graph(ctx, refs)
	if err != nil {
		return nil, err
	}
	commits := make([]*modulev1.Commit, len(g.Commits))
	var edges []*modulev1.Graph_Edge
	for i, c := range g.Commits {
		commits[i] = commitToV1(c)
		for _, d := range g.Edges[c.ID] {
			edges = append(edges, modulev1.Graph_Edge_builder{
				FromNode: modulev1.Graph_Node_builder{CommitId: c.ID}.Build(),
				ToNode:   modulev1.Graph_Node_builder{CommitId: d}.Build(),
			}.Build())
		}
	}
	return connect.NewResponse(modulev1.GetGraphResponse_builder{Graph: modulev1.Graph_builder{Commits: commits, Edges: edges}.Build()}.Build()), nil
}

// ---- DownloadService ----

func (h *v1) Download(ctx context.Context, req *connect.Request[modulev1.DownloadRequest]) (*connect.Response[modulev1.DownloadResponse], error) {
	res := &modulev1.DownloadResponse{}
	enc := func(c Commit) ([]byte, error) { return proto.Marshal(commitToV1(c)) }
	if err := download(ctx, h.s, req.Header(), req.Msg.GetValues(), enc, res); err != nil {
		return nil, err
	}
	return connect.NewResponse(res), nil
}

// ---- UploadService ----

func (h *v1) Upload(ctx context.Context, req *connect.Request[modulev1.UploadRequest]) (*connect.Response[modulev1.UploadResponse], error) {
	contents, err := uploadContents(req.Msg.GetContents())
	if err != nil {
		return nil, err
	}
	commits, err := h.s.Upload(ctx, contents, req.Msg.GetDepCommitIds())
	if err != nil {
		return nil, err
	}
	out := make([]*modulev1.Commit, len(commits))
	for i, c := range commits {
		out[i] = commitToV1(c)
	}
	return connect.NewResponse(modulev1.UploadResponse_builder{Commits: out}.Build()), nil
}
