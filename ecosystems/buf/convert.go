package buf

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"time"

	modulev1 "buf.build/gen/go/bufbuild/registry/protocolbuffers/go/buf/registry/module/v1"
	modulev1beta1 "buf.build/gen/go/bufbuild/registry/protocolbuffers/go/buf/registry/module/v1beta1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/packyard/packyard/ecosystems/buf/module"
	"github.com/packyard/packyard/pkg/errs"
)

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func mustHex(s string) []byte {
	b, _ := hex.DecodeString(s)
	return b
}

// ---- requests of either API version ----
//
// The v1 and v1beta1 APIs (and the owner API) generate a distinct Go type
// for each message, also where messages share their shape. These read
// requests through that shape, and serve the calls both versions share,
// once for every version.

// idOrName is a reference message: an id, or a name of type N.
type idOrName[N any] interface {
	HasId() bool
	GetId() string
	HasName() bool
	GetName() N
}

// moduleName is the name of a module reference.
type moduleName interface {
	GetOwner() string
	GetModule() string
}

// resourceName is the name of a resource reference: a module with an
// optional label name or ref.
type resourceName interface {
	moduleName
	GetLabelName() string
	HasLabelName() bool
	GetRef() string
	HasRef() bool
}

// uploadFile is a file of an upload request.
type uploadFile interface {
	GetPath() string
	GetContent() []byte
}

func moduleRef[N moduleName](r idOrName[N]) (ModuleRef, error) {
	switch {
	case r.HasId():
		return ModuleRef{ID: r.GetId()}, nil
	case r.HasName():
		return ModuleRef{Owner: r.GetName().GetOwner(), Name: r.GetName().GetModule()}, nil
	}
	return ModuleRef{}, errs.Invalidf("a module reference needs an id or a name")
}

func resourceRef[N resourceName](r idOrName[N]) (ResourceRef, error) {
	switch {
	case r.HasId():
		return ResourceRef{ID: r.GetId()}, nil
	case r.HasName():
		n := r.GetName()
		return ResourceRef{Owner: n.GetOwner(), Module: n.GetModule(), LabelName: n.GetLabelName(), HasLabel: n.HasLabelName(),
			Ref: n.GetRef(), HasRef: n.HasRef()}, nil
	}
	return ResourceRef{}, errs.Invalidf("a resource reference needs an id or a name")
}

// resourceRefs converts the resource_refs of a request, which must not be empty.
func resourceRefs[R idOrName[N], N resourceName](rs []R) ([]ResourceRef, error) {
	if len(rs) == 0 {
		return nil, errs.Invalidf("resource_refs is empty")
	}
	out := make([]ResourceRef, len(rs))
	for i, r := range rs {
		ref, err := resourceRef[N](r)
		if err != nil {
			return nil, err
		}
		out[i] = ref
	}
	return out, nil
}

// ownerRef converts an owner, organization or user reference; what names
// the kind of reference in the error ("an owner").
func ownerRef(r idOrName[string], what string) (OwnerRef, error) {
	switch {
	case r.HasId():
		return OwnerRef{ID: r.GetId()}, nil
	case r.HasName():
		return OwnerRef{Name: r.GetName()}, nil
	}
	return OwnerRef{}, errs.Invalidf("%s reference needs an id or a name", what)
}

// fileType is the file type enum of either API version.
type fileType interface {
	modulev1.FileType | modulev1beta1.FileType
}

// fileTypes converts the file types of a download request (both API
// versions number them alike).
func fileTypes[T fileType](ts []T) ([]module.FileType, error) {
	var out []module.FileType
	for _, t := range ts {
		switch modulev1.FileType(t) {
		case modulev1.FileType_FILE_TYPE_PROTO:
			out = append(out, module.FileTypeProto)
		case modulev1.FileType_FILE_TYPE_DOC:
			out = append(out, module.FileTypeDoc)
		case modulev1.FileType_FILE_TYPE_LICENSE:
			out = append(out, module.FileTypeLicense)
		default:
			return nil, errs.Invalidf("unknown file type %d", t)
		}
	}
	return out, nil
}

// listCommitsRequest is a ListCommits request of either API version.
type listCommitsRequest[R idOrName[N], N resourceName] interface {
	GetResourceRef() R
	GetPageSize() uint32
	GetPageToken() string
	GetIdQuery() string
}

// listCommits serves a ListCommits request, newest first unless asc: a
// page of commits and the token of the next one.
func listCommits[Q listCommitsRequest[R, N], R idOrName[N], N resourceName](ctx context.Context, s *Service, q Q, asc bool) ([]Commit, string, error) {
	ref, err := resourceRef[N](q.GetResourceRef())
	if err != nil {
		return nil, "", err
	}
	p, err := pageFrom(q.GetPageSize(), q.GetPageToken(), !asc)
	if err != nil {
		return nil, "", err
	}
	commits, err := s.ListCommits(ctx, ref, q.GetIdQuery(), p)
	if err != nil {
		return nil, "", err
	}
	return commits, nextToken(p, len(commits)), nil
}

// downloadValue is one value of a download request.
type downloadValue[R idOrName[N], N resourceName, T fileType] interface {
	GetResourceRef() R
	GetFileTypes() []T
	GetPaths() []string
	GetPathsAllowNotExist() bool
}

// download serves the values of a download request, which must not be
// empty, in order, as res (the response message of the request's version),
// its commits encoded by enc; h is the request's header.
func download[V downloadValue[R, N, T], R idOrName[N], N resourceName, T fileType](ctx context.Context, s *Service, h http.Header, vals []V, enc CommitEncoder, res proto.Message) error {
	if len(vals) == 0 {
		return errs.Invalidf("values is empty")
	}
	reqs := make([]DownloadRequest, 0, len(vals))
	for _, v := range vals {
		ref, err := resourceRef[N](v.GetResourceRef())
		if err != nil {
			return err
		}
		types, err := fileTypes(v.GetFileTypes())
		if err != nil {
			return err
		}
		reqs = append(reqs, DownloadRequest{Ref: ref, Types: types, Paths: v.GetPaths(), PathsAllowNotExist: v.GetPathsAllowNotExist()})
	}
	if pre := precompressedFrom(ctx); pre != nil {
		gz, ok, err := s.downloadGzip(ctx, reqs, enc)
		if err != nil {
			return err
		}
		if ok {
			pre.gz = gz // res stays empty: the route sends gz in its place
			return nil
		}
	}
	body, err := s.Download(ctx, reqs, enc)
	if err != nil {
		return err
	}
	return setEncoded(h, res, body)
}

// setEncoded makes msg the encoded response body: its unknown fields, which
// the binary codec writes as they are, when the call uses that codec, and
// else body decoded (the JSON codec writes no unknown fields).
func setEncoded(h http.Header, msg proto.Message, body []byte) error {
	switch h.Get("Content-Type") {
	case "application/proto", "application/grpc", "application/grpc+proto", "application/grpc-web", "application/grpc-web+proto":
		msg.ProtoReflect().SetUnknown(body)
		return nil
	}
	if err := proto.Unmarshal(body, msg); err != nil {
		return fmt.Errorf("decode download response: %w", err)
	}
	return nil
}

// resolveCommits resolves each resource reference of a request, in order,
// to a commit the caller may read.
func resolveCommits[R idOrName[N], N resourceName](ctx context.Context, s *Service, rs []R) ([]Commit, error) {
	if len(rs) == 0 {
		return nil, errs.Invalidf("resource_refs is empty")
	}
	out := make([]Commit, 0, len(rs))
	for _, r := range rs {
		ref, err := resourceRef[N](r)
		if err != nil {
			return nil, err
		}
		c, _, err := s.ResolveCommit(ctx, ref)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// uploadContentMsg is one content of an upload request of either API version.
type uploadContentMsg[M idOrName[N], N moduleName, F uploadFile, L idOrName[string]] interface {
	GetModuleRef() M
	GetFiles() []F
	GetScopedLabelRefs() []L
	GetSourceControlUrl() string
}

// uploadContents converts the contents of an upload request: each one's
// module, files, scoped labels and source control URL.
func uploadContents[C uploadContentMsg[M, N, F, L], M idOrName[N], N moduleName, F uploadFile, L idOrName[string]](cs []C) ([]UploadContent, error) {
	out := make([]UploadContent, 0, len(cs))
	for _, c := range cs {
		ref, err := moduleRef[N](c.GetModuleRef())
		if err != nil {
			return nil, err
		}
		uc := UploadContent{Module: ref, SourceControlURL: c.GetSourceControlUrl()}
		for _, f := range c.GetFiles() {
			uc.Files = append(uc.Files, UploadFile{Path: f.GetPath(), Content: f.GetContent()})
		}
		for _, l := range c.GetScopedLabelRefs() {
			switch {
			case l.HasId():
				uc.Labels = append(uc.Labels, ScopedLabel{ID: l.GetId()})
			case l.HasName():
				uc.Labels = append(uc.Labels, ScopedLabel{Name: l.GetName()})
			default:
				return nil, errs.Invalidf("a label reference needs an id or a name")
			}
		}
		out = append(out, uc)
	}
	return out, nil
}

// ---- v1 ----

func moduleToV1(m ModuleRecord) *modulev1.Module {
	return modulev1.Module_builder{
		Id: m.ID, CreateTime: ts(m.CreatedAt), UpdateTime: ts(m.UpdatedAt), Name: m.Name, OwnerId: m.OwnerID,
		Visibility: modulev1.ModuleVisibility(m.Visibility), State: modulev1.ModuleState(m.State),
		Description: m.Description, Url: m.URL, DefaultLabelName: m.DefaultLabel,
	}.Build()
}

func commitToV1(c Commit) *modulev1.Commit {
	return modulev1.Commit_builder{
		Id: c.ID, CreateTime: ts(c.CreatedAt), OwnerId: c.OwnerID, ModuleId: c.ModuleID,
		Digest:          modulev1.Digest_builder{Type: modulev1.DigestType_DIGEST_TYPE_B5, Value: mustHex(c.B5)}.Build(),
		CreatedByUserId: c.CreatedByUserID, SourceControlUrl: c.SourceControlURL,
	}.Build()
}

func labelToV1(l Label) *modulev1.Label {
	return modulev1.Label_builder{
		Id: l.ID, CreateTime: ts(l.CreatedAt), UpdateTime: ts(l.UpdatedAt), ArchiveTime: ts(l.ArchivedAt),
		Name: l.Name, OwnerId: l.OwnerID, ModuleId: l.ModuleID, CommitId: l.CommitID, UpdatedByUserId: l.UpdatedByUserID,
		CommitCheckState: modulev1.CommitCheckState_builder{
			Status: modulev1.CommitCheckStatus_COMMIT_CHECK_STATUS_DISABLED, UpdateTime: ts(l.UpdatedAt),
		}.Build(),
	}.Build()
}

func labelRefFromV1(r *modulev1.LabelRef) (LabelRef, error) {
	switch {
	case r.HasId():
		return LabelRef{ID: r.GetId()}, nil
	case r.HasName():
		n := r.GetName()
		return LabelRef{Owner: n.GetOwner(), Module: n.GetModule(), Label: n.GetLabel()}, nil
	}
	return LabelRef{}, errs.Invalidf("a label reference needs an id or a name")
}

// listOrder reads the order of a v1 ListModules or ListLabels request (both
// enums number their values alike): newest first unless ascending, by
// update time or by creation time.
func listOrder[T modulev1.ListModulesRequest_Order | modulev1.ListLabelsRequest_Order](o T) (desc, byUpdate bool) {
	switch modulev1.ListModulesRequest_Order(o) {
	case modulev1.ListModulesRequest_ORDER_UNSPECIFIED, modulev1.ListModulesRequest_ORDER_CREATE_TIME_DESC:
		return true, false
	case modulev1.ListModulesRequest_ORDER_UPDATE_TIME_DESC:
		return true, true
	case modulev1.ListModulesRequest_ORDER_UPDATE_TIME_ASC:
		return false, true
	}
	return false, false // by creation time, oldest first
}

// ---- v1beta1 ----

func digestTypeV1beta1(t modulev1beta1.DigestType) (modulev1beta1.DigestType, error) {
	switch t {
	case modulev1beta1.DigestType_DIGEST_TYPE_UNSPECIFIED, modulev1beta1.DigestType_DIGEST_TYPE_B5:
		return modulev1beta1.DigestType_DIGEST_TYPE_B5, nil
	case modulev1beta1.DigestType_DIGEST_TYPE_B4:
		return t, nil
	}
	return 0, errs.Invalidf("unknown digest type %d", t)
}

func commitToV1beta1(c Commit, t modulev1beta1.DigestType) *modulev1beta1.Commit {
	v := c.B5
	if t == modulev1beta1.DigestType_DIGEST_TYPE_B4 {
		v = c.B4
	}
	return modulev1beta1.Commit_builder{
		Id: c.ID, CreateTime: ts(c.CreatedAt), OwnerId: c.OwnerID, ModuleId: c.ModuleID,
		Digest:          modulev1beta1.Digest_builder{Type: t, Value: mustHex(v)}.Build(),
		CreatedByUserId: c.CreatedByUserID, SourceControlUrl: c.SourceControlURL,
	}.Build()
}

// ---- pages ----

const (
	defaultPageSize = 10
	maxPageSize     = 250
)

// pageFrom turns a page size and token (an offset) into a Page.
func pageFrom(size uint32, token string, desc bool) (Page, error) {
	p := Page{Limit: int(size), Desc: desc}
	if p.Limit == 0 {
		p.Limit = defaultPageSize
	}
	if p.Limit > maxPageSize {
		p.Limit = maxPageSize
	}
	if token != "" {
		n, err := strconv.Atoi(token)
		if err != nil || n < 0 {
			return Page{}, errs.Invalidf("invalid page token %q", token)
		}
		p.Offset = n
	}
	return p, nil
}

// nextToken is the token of the page after p, or "" when got is the last.
func nextToken(p Page, got int) string {
	if got < p.Limit {
		return ""
	}
	return strconv.Itoa(p.Offset + got)
}
