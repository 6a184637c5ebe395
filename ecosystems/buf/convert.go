package buf

import (
	"encoding/hex"
	"strconv"
	"time"

	modulev1 "buf.build/gen/go/bufbuild/registry/protocolbuffers/go/buf/registry/module/v1"
	modulev1beta1 "buf.build/gen/go/bufbuild/registry/protocolbuffers/go/buf/registry/module/v1beta1"
	ownerv1 "buf.build/gen/go/bufbuild/registry/protocolbuffers/go/buf/registry/owner/v1"
	"google.golang.org/protobuf/types/known/timestamppb"

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

func moduleRefFromV1(r *modulev1.ModuleRef) (ModuleRef, error) {
	switch {
	case r.HasId():
		return ModuleRef{ID: r.GetId()}, nil
	case r.HasName():
		return ModuleRef{Owner: r.GetName().GetOwner(), Name: r.GetName().GetModule()}, nil
	}
	return ModuleRef{}, errs.Invalidf("a module reference needs an id or a name")
}

func resourceRefFromV1(r *modulev1.ResourceRef) (ResourceRef, error) {
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

func ownerRefFromV1(r *ownerv1.OwnerRef) (OwnerRef, error) {
	switch {
	case r.HasId():
		return OwnerRef{ID: r.GetId()}, nil
	case r.HasName():
		return OwnerRef{Name: r.GetName()}, nil
	}
	return OwnerRef{}, errs.Invalidf("an owner reference needs an id or a name")
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

func resourceRefFromV1beta1(r *modulev1beta1.ResourceRef) (ResourceRef, error) {
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
