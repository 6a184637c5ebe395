package buf

import (
	"context"
	"errors"
	"sort"
	"strings"
	"testing"

	modulev1 "buf.build/gen/go/bufbuild/registry/protocolbuffers/go/buf/registry/module/v1"
	modulev1beta1 "buf.build/gen/go/bufbuild/registry/protocolbuffers/go/buf/registry/module/v1beta1"
	ownerv1 "buf.build/gen/go/bufbuild/registry/protocolbuffers/go/buf/registry/owner/v1"
	"connectrpc.com/connect"
	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/auth"
	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/metadata"
)

// target is what a request names: a module (with a label and a commit), its
// owner, and a user, by name and by id. A private target exists and the
// caller may not read it; an absent one does not exist.
type target struct {
	owner, module, label, user           string
	moduleID, commitID, labelID, ownerID string
	userID                               string
	full                                 string // owner/module
}

func newTarget(owner, module, label, user string, ids ...string) target {
	t := target{owner: owner, module: module, label: label, user: user, full: owner + "/" + module}
	fill := []*string{&t.moduleID, &t.commitID, &t.labelID, &t.ownerID, &t.userID}
	for i, p := range fill {
		if i < len(ids) && ids[i] != "" {
			*p = ids[i]
		} else {
			*p = metadata.NewID()
		}
	}
	return t
}

// normalize replaces every name and id of t in msg, so that the answers for
// two targets can be compared.
func (t target) normalize(msg string) string {
	pairs := [][2]string{{t.full, "<module>"}, {t.moduleID, "<module-id>"}, {t.commitID, "<commit-id>"},
		{t.labelID, "<label-id>"}, {t.ownerID, "<owner-id>"}, {t.userID, "<user-id>"}, {t.user, "<user>"},
		{t.owner, "<owner>"}, {t.module, "<name>"}}
	sort.SliceStable(pairs, func(i, j int) bool { return len(pairs[i][0]) > len(pairs[j][0]) })
	for _, p := range pairs {
		if p[0] == "" {
			continue
		}
		msg = strings.ReplaceAll(msg, p[0], p[1])
	}
	return msg
}

// rpc is one buf RPC naming a target; scope says which part of the target
// it names: "owner", "module" (a module and what is in it) or "user".
type rpc struct {
	name  string
	scope string
	call  func(ctx context.Context, c clients, t target) error
}

func v1b1Ref(t target, ref string) *modulev1beta1.ResourceRef {
	return modulev1beta1.ResourceRef_builder{Name: modulev1beta1.ResourceRef_Name_builder{Owner: t.owner, Module: t.module, Ref: &ref}.Build()}.Build()
}

func v1b1ID(id string) *modulev1beta1.ResourceRef {
	return modulev1beta1.ResourceRef_builder{Id: &id}.Build()
}

func v1ID(id string) *modulev1.ResourceRef { return modulev1.ResourceRef_builder{Id: &id}.Build() }

func labelID(id string) *modulev1.LabelRef { return modulev1.LabelRef_builder{Id: &id}.Build() }

func modID(id string) *modulev1.ModuleRef { return modulev1.ModuleRef_builder{Id: &id}.Build() }

func ownerName(n string) *ownerv1.OwnerRef { return ownerv1.OwnerRef_builder{Name: &n}.Build() }

func ownerID(id string) *ownerv1.OwnerRef { return ownerv1.OwnerRef_builder{Id: &id}.Build() }

func orgName(n string) *ownerv1.OrganizationRef {
	return ownerv1.OrganizationRef_builder{Name: &n}.Build()
}

func orgID(id string) *ownerv1.OrganizationRef {
	return ownerv1.OrganizationRef_builder{Id: &id}.Build()
}

func userName(n string) *ownerv1.UserRef { return ownerv1.UserRef_builder{Name: &n}.Build() }

func userIDRef(id string) *ownerv1.UserRef { return ownerv1.UserRef_builder{Id: &id}.Build() }

func req[T any](m *T) *connect.Request[T] { return connect.NewRequest(m) }

// bufRPCs is every RPC of the module, owner and organization services the
// buf CLI calls, each naming a target by name or by id.
func bufRPCs() []rpc {
	b5 := modulev1beta1.DigestType_DIGEST_TYPE_B5
	return []rpc{
		{"v1 GetModules by name", "module", func(ctx context.Context, c clients, t target) error {
			_, err := c.module.GetModules(ctx, req(modulev1.GetModulesRequest_builder{ModuleRefs: []*modulev1.ModuleRef{modRef(t.owner, t.module)}}.Build()))
			return err
		}},
		{"v1 GetModules by id", "module", func(ctx context.Context, c clients, t target) error {
			_, err := c.module.GetModules(ctx, req(modulev1.GetModulesRequest_builder{ModuleRefs: []*modulev1.ModuleRef{modID(t.moduleID)}}.Build()))
			return err
		}},
		{"v1 ListModules by owner name", "owner", func(ctx context.Context, c clients, t target) error {
			_, err := c.module.ListModules(ctx, req(modulev1.ListModulesRequest_builder{OwnerRefs: []*ownerv1.OwnerRef{ownerName(t.owner)}}.Build()))
			return err
		}},
		{"v1 ListModules by owner id", "owner", func(ctx context.Context, c clients, t target) error {
			_, err := c.module.ListModules(ctx, req(modulev1.ListModulesRequest_builder{OwnerRefs: []*ownerv1.OwnerRef{ownerID(t.ownerID)}}.Build()))
			return err
		}},
		{"v1 CreateModules", "owner", func(ctx context.Context, c clients, t target) error {
			_, err := c.module.CreateModules(ctx, req(modulev1.CreateModulesRequest_builder{Values: []*modulev1.CreateModulesRequest_Value{
				modulev1.CreateModulesRequest_Value_builder{OwnerRef: ownerName(t.owner), Name: "fresh"}.Build()}}.Build()))
			return err
		}},
		{"v1 UpdateModules", "module", func(ctx context.Context, c clients, t target) error {
			_, err := c.module.UpdateModules(ctx, req(modulev1.UpdateModulesRequest_builder{Values: []*modulev1.UpdateModulesRequest_Value{
				modulev1.UpdateModulesRequest_Value_builder{ModuleRef: modID(t.moduleID), Description: ptr("x")}.Build()}}.Build()))
			return err
		}},
		{"v1 DeleteModules", "module", func(ctx context.Context, c clients, t target) error {
			_, err := c.module.DeleteModules(ctx, req(modulev1.DeleteModulesRequest_builder{ModuleRefs: []*modulev1.ModuleRef{modRef(t.owner, t.module)}}.Build()))
			return err
		}},
		{"v1 GetCommits by name", "module", func(ctx context.Context, c clients, t target) error {
			_, err := c.commit.GetCommits(ctx, req(modulev1.GetCommitsRequest_builder{ResourceRefs: []*modulev1.ResourceRef{resRef(t.owner, t.module, t.label)}}.Build()))
			return err
		}},
		{"v1 GetCommits by commit id", "module", func(ctx context.Context, c clients, t target) error {
			_, err := c.commit.GetCommits(ctx, req(modulev1.GetCommitsRequest_builder{ResourceRefs: []*modulev1.ResourceRef{v1ID(t.commitID)}}.Build()))
			return err
		}},
		{"v1 ListCommits", "module", func(ctx context.Context, c clients, t target) error {
			_, err := c.commit.ListCommits(ctx, req(modulev1.ListCommitsRequest_builder{ResourceRef: resRef(t.owner, t.module, "")}.Build()))
			return err
		}},
		{"v1beta1 GetCommits by name", "module", func(ctx context.Context, c clients, t target) error {
			_, err := c.commitB.GetCommits(ctx, req(modulev1beta1.GetCommitsRequest_builder{ResourceRefs: []*modulev1beta1.ResourceRef{v1b1Ref(t, "")}, DigestType: b5}.Build()))
			return err
		}},
		{"v1beta1 GetCommits by label id", "module", func(ctx context.Context, c clients, t target) error {
			_, err := c.commitB.GetCommits(ctx, req(modulev1beta1.GetCommitsRequest_builder{ResourceRefs: []*modulev1beta1.ResourceRef{v1b1ID(t.labelID)}, DigestType: b5}.Build()))
			return err
		}},
		{"v1beta1 ListCommits", "module", func(ctx context.Context, c clients, t target) error {
			_, err := c.commitB.ListCommits(ctx, req(modulev1beta1.ListCommitsRequest_builder{ResourceRef: v1b1ID(t.moduleID)}.Build()))
			return err
		}},
		{"v1 GetLabels by name", "module", func(ctx context.Context, c clients, t target) error {
			_, err := c.label.GetLabels(ctx, req(modulev1.GetLabelsRequest_builder{LabelRefs: []*modulev1.LabelRef{labelRef(t.owner, t.module, t.label)}}.Build()))
			return err
		}},
		{"v1 GetLabels by id", "module", func(ctx context.Context, c clients, t target) error {
			_, err := c.label.GetLabels(ctx, req(modulev1.GetLabelsRequest_builder{LabelRefs: []*modulev1.LabelRef{labelID(t.labelID)}}.Build()))
			return err
		}},
		{"v1 ListLabels", "module", func(ctx context.Context, c clients, t target) error {
			_, err := c.label.ListLabels(ctx, req(modulev1.ListLabelsRequest_builder{ResourceRef: resRef(t.owner, t.module, "")}.Build()))
			return err
		}},
		{"v1 ListLabelHistory by id", "module", func(ctx context.Context, c clients, t target) error {
			_, err := c.label.ListLabelHistory(ctx, req(modulev1.ListLabelHistoryRequest_builder{LabelRef: labelID(t.labelID)}.Build()))
			return err
		}},
		{"v1 CreateOrUpdateLabels", "module", func(ctx context.Context, c clients, t target) error {
			_, err := c.label.CreateOrUpdateLabels(ctx, req(modulev1.CreateOrUpdateLabelsRequest_builder{Values: []*modulev1.CreateOrUpdateLabelsRequest_Value{
				modulev1.CreateOrUpdateLabelsRequest_Value_builder{LabelRef: labelRef(t.owner, t.module, "x"), CommitId: t.commitID}.Build()}}.Build()))
			return err
		}},
		{"v1 ArchiveLabels", "module", func(ctx context.Context, c clients, t target) error {
			_, err := c.label.ArchiveLabels(ctx, req(modulev1.ArchiveLabelsRequest_builder{LabelRefs: []*modulev1.LabelRef{labelRef(t.owner, t.module, t.label)}}.Build()))
			return err
		}},
		{"v1 UnarchiveLabels by id", "module", func(ctx context.Context, c clients, t target) error {
			_, err := c.label.UnarchiveLabels(ctx, req(modulev1.UnarchiveLabelsRequest_builder{LabelRefs: []*modulev1.LabelRef{labelID(t.labelID)}}.Build()))
			return err
		}},
		{"v1 GetResources by name", "module", func(ctx context.Context, c clients, t target) error {
			_, err := c.resource.GetResources(ctx, req(modulev1.GetResourcesRequest_builder{ResourceRefs: []*modulev1.ResourceRef{resRef(t.owner, t.module, t.label)}}.Build()))
			return err
		}},
		{"v1 GetResources by module id", "module", func(ctx context.Context, c clients, t target) error {
			_, err := c.resource.GetResources(ctx, req(modulev1.GetResourcesRequest_builder{ResourceRefs: []*modulev1.ResourceRef{v1ID(t.moduleID)}}.Build()))
			return err
		}},
		{"v1 GetGraph by name", "module", func(ctx context.Context, c clients, t target) error {
			_, err := c.graph.GetGraph(ctx, req(modulev1.GetGraphRequest_builder{ResourceRefs: []*modulev1.ResourceRef{resRef(t.owner, t.module, t.commitID)}}.Build()))
			return err
		}},
		{"v1 GetGraph by commit id", "module", func(ctx context.Context, c clients, t target) error {
			_, err := c.graph.GetGraph(ctx, req(modulev1.GetGraphRequest_builder{ResourceRefs: []*modulev1.ResourceRef{v1ID(t.commitID)}}.Build()))
			return err
		}},
		{"v1beta1 GetGraph", "module", func(ctx context.Context, c clients, t target) error {
			_, err := c.graphB.GetGraph(ctx, req(modulev1beta1.GetGraphRequest_builder{DigestType: b5, ResourceRefs: []*modulev1beta1.GetGraphRequest_ResourceRef{
				modulev1beta1.GetGraphRequest_ResourceRef_builder{ResourceRef: v1b1Ref(t, t.commitID)}.Build()}}.Build()))
			return err
		}},
		{"v1 Download by name", "module", func(ctx context.Context, c clients, t target) error {
			_, err := c.download.Download(ctx, req(modulev1.DownloadRequest_builder{Values: []*modulev1.DownloadRequest_Value{
				modulev1.DownloadRequest_Value_builder{ResourceRef: resRef(t.owner, t.module, "")}.Build()}}.Build()))
			return err
		}},
		{"v1 Download by commit id", "module", func(ctx context.Context, c clients, t target) error {
			_, err := c.download.Download(ctx, req(modulev1.DownloadRequest_builder{Values: []*modulev1.DownloadRequest_Value{
				modulev1.DownloadRequest_Value_builder{ResourceRef: v1ID(t.commitID)}.Build()}}.Build()))
			return err
		}},
		{"v1beta1 Download by commit id", "module", func(ctx context.Context, c clients, t target) error {
			_, err := c.downloadB.Download(ctx, req(modulev1beta1.DownloadRequest_builder{DigestType: b5, Values: []*modulev1beta1.DownloadRequest_Value{
				modulev1beta1.DownloadRequest_Value_builder{ResourceRef: v1b1ID(t.commitID)}.Build()}}.Build()))
			return err
		}},
		{"v1 Upload", "module", func(ctx context.Context, c clients, t target) error {
			_, err := c.push(ctx, nil, content{owner: t.owner, name: t.module, files: map[string]string{"x.proto": proto3("x")}})
			return err
		}},
		{"v1beta1 Upload", "module", func(ctx context.Context, c clients, t target) error {
			_, err := c.uploadB.Upload(ctx, req(modulev1beta1.UploadRequest_builder{Contents: []*modulev1beta1.UploadRequest_Content{
				modulev1beta1.UploadRequest_Content_builder{
					ModuleRef: modulev1beta1.ModuleRef_builder{Name: modulev1beta1.ModuleRef_Name_builder{Owner: t.owner, Module: t.module}.Build()}.Build(),
					Files:     []*modulev1beta1.File{modulev1beta1.File_builder{Path: "x.proto", Content: []byte(proto3("x"))}.Build()},
				}.Build()}}.Build()))
			return err
		}},
		{"v1 Upload with a dependency", "module", func(ctx context.Context, c clients, t target) error {
			// The caller's own module, depending on the target's commit.
			_, err := c.push(ctx, []string{t.commitID}, content{owner: "other", name: "own", files: map[string]string{"y.proto": proto3("y")}})
			return err
		}},
		{"GetOwners by name", "owner", func(ctx context.Context, c clients, t target) error {
			_, err := c.owner.GetOwners(ctx, req(ownerv1.GetOwnersRequest_builder{OwnerRefs: []*ownerv1.OwnerRef{ownerName(t.owner)}}.Build()))
			return err
		}},
		{"GetOwners by id", "owner", func(ctx context.Context, c clients, t target) error {
			_, err := c.owner.GetOwners(ctx, req(ownerv1.GetOwnersRequest_builder{OwnerRefs: []*ownerv1.OwnerRef{ownerID(t.ownerID)}}.Build()))
			return err
		}},
		{"GetOrganizations by name", "owner", func(ctx context.Context, c clients, t target) error {
			_, err := c.org.GetOrganizations(ctx, req(ownerv1.GetOrganizationsRequest_builder{OrganizationRefs: []*ownerv1.OrganizationRef{orgName(t.owner)}}.Build()))
			return err
		}},
		{"GetOrganizations by id", "owner", func(ctx context.Context, c clients, t target) error {
			_, err := c.org.GetOrganizations(ctx, req(ownerv1.GetOrganizationsRequest_builder{OrganizationRefs: []*ownerv1.OrganizationRef{orgID(t.ownerID)}}.Build()))
			return err
		}},
		{"UpdateOrganizations", "owner", func(ctx context.Context, c clients, t target) error {
			_, err := c.org.UpdateOrganizations(ctx, req(ownerv1.UpdateOrganizationsRequest_builder{Values: []*ownerv1.UpdateOrganizationsRequest_Value{
				ownerv1.UpdateOrganizationsRequest_Value_builder{OrganizationRef: orgName(t.owner),
					Visibility: ownerv1.OrganizationVisibility_ORGANIZATION_VISIBILITY_PUBLIC.Enum()}.Build()}}.Build()))
			return err
		}},
		{"DeleteOrganizations by id", "owner", func(ctx context.Context, c clients, t target) error {
			_, err := c.org.DeleteOrganizations(ctx, req(ownerv1.DeleteOrganizationsRequest_builder{OrganizationRefs: []*ownerv1.OrganizationRef{orgID(t.ownerID)}}.Build()))
			return err
		}},
		{"GetUsers by name", "user", func(ctx context.Context, c clients, t target) error {
			_, err := c.user.GetUsers(ctx, req(ownerv1.GetUsersRequest_builder{UserRefs: []*ownerv1.UserRef{userName(t.user)}}.Build()))
			return err
		}},
		{"GetUsers by id", "user", func(ctx context.Context, c clients, t target) error {
			_, err := c.user.GetUsers(ctx, req(ownerv1.GetUsersRequest_builder{UserRefs: []*ownerv1.UserRef{userIDRef(t.userID)}}.Build()))
			return err
		}},
		{"GetOwners of a user by id", "user", func(ctx context.Context, c clients, t target) error {
			_, err := c.owner.GetOwners(ctx, req(ownerv1.GetOwnersRequest_builder{OwnerRefs: []*ownerv1.OwnerRef{ownerID(t.userID)}}.Build()))
			return err
		}},
	}
}

// pair is a private target and an absent one a request can name instead.
type pair struct {
	name            string
	private, absent target
	scopes          string // the RPC scopes the pair applies to
}

// TestPrivateAndAbsentAnswerAlike: for every buf RPC, by name and by id, a
// caller who cannot read a private thing gets exactly the answer (code and
// message) it gets for an absent one: Unauthenticated when anonymous,
// NotFound with another organization's token.
func TestPrivateAndAbsentAnswerAlike(t *testing.T) {
	e := newEnv(t, "sqlite", DefaultConfig())
	ctx := context.Background()
	acme := e.clients(e.org("acme", false, metadata.RoleWrite))
	priv := acme.create(t, "acme", "priv", modulev1.ModuleVisibility_MODULE_VISIBILITY_PRIVATE)
	commits, err := acme.push(ctx, nil, content{owner: "acme", name: "priv", labels: []string{"v1"}, files: map[string]string{"p.proto": proto3("p")}})
	require.NoError(t, err)
	lab, err := acme.label.GetLabels(ctx, req(modulev1.GetLabelsRequest_builder{LabelRefs: []*modulev1.LabelRef{labelRef("acme", "priv", "v1")}}.Build()))
	require.NoError(t, err)
	open := e.clients(e.org("open", true, metadata.RoleWrite))
	hid := open.create(t, "open", "hid", modulev1.ModuleVisibility_MODULE_VISIBILITY_PRIVATE)
	openCommits, err := open.push(ctx, nil, content{owner: "open", name: "hid", labels: []string{"v1"}, files: map[string]string{"h.proto": proto3("h")}})
	require.NoError(t, err)
	lonely, err := e.admin.CreateUser(ctx, "lonely", false)
	require.NoError(t, err)
	mine := ModuleRecord{ID: metadata.NewID(), OwnerID: lonely.ID, OwnerKind: OwnerUser, Name: "mine", Visibility: VisibilityPrivate,
		State: StateActive, DefaultLabel: "main", CreatedAt: nowUTC(), UpdatedAt: nowUTC()}
	require.NoError(t, e.svc.st.createModule(ctx, e.svc.st.db, mine))

	privTarget := newTarget("acme", "priv", "v1", "lonely", priv.GetId(), commits[0].GetId(), lab.Msg.GetLabels()[0].GetId(), priv.GetOwnerId(), lonely.ID)
	pairs := []pair{
		{"private org: module", privTarget, newTarget("acme", "nope", "v1", "nobody"), "module user"},
		{"private org: organization", privTarget, newTarget("ghost", "priv", "v1", "nobody"), "owner module"},
		{"public org: private module", newTarget("open", "hid", "v1", "", hid.GetId(), openCommits[0].GetId()), newTarget("open", "nope", "v1", ""), "module"},
		{"user: private module", newTarget("lonely", "mine", "main", "", mine.ID), newTarget("lonely", "nope", "main", ""), "module"},
	}
	other := e.clients(e.org("other", false, metadata.RoleWrite))
	other.create(t, "other", "own", modulev1.ModuleVisibility_MODULE_VISIBILITY_PRIVATE)
	callers := map[string]struct {
		c    clients
		code connect.Code
	}{
		"anonymous":       {e.clients(""), connect.CodeUnauthenticated},
		"other org token": {other, connect.CodeNotFound},
	}
	for callerName, caller := range callers {
		for _, p := range pairs {
			for _, r := range bufRPCs() {
				if !strings.Contains(p.scopes, r.scope) {
					continue
				}
				t.Run(callerName+"/"+p.name+"/"+r.name, func(t *testing.T) {
					privErr := r.call(ctx, caller.c, p.private)
					absentErr := r.call(ctx, caller.c, p.absent)
					require.Error(t, privErr)
					require.Error(t, absentErr)
					require.Equal(t, code(absentErr), code(privErr), "private: %v\nabsent: %v", privErr, absentErr)
					require.Equal(t, p.absent.normalize(message(absentErr)), p.private.normalize(message(privErr)))
					if r.name != "v1 Upload with a dependency" {
						require.Equal(t, caller.code, code(privErr), "%v", privErr)
					}
				})
			}
		}
	}
	require.Equal(t, VisibilityPrivate, e.module(t, "acme", "priv").Visibility, "nothing changed")
}

func message(err error) string {
	var ce *connect.Error
	if errors.As(err, &ce) {
		return ce.Message()
	}
	return err.Error()
}

// TestDependencyErrorsNameOnlyWhatIsReadable: the graph of a public module
// whose dependency the caller cannot read answers as if the dependency were
// gone, naming the requested module only; a refused deletion names only the
// dependents the caller may read.
func TestDependencyErrorsNameOnlyWhatIsReadable(t *testing.T) {
	e := newEnv(t, "sqlite", DefaultConfig())
	ctx := context.Background()
	acme := e.clients(e.org("acme", false, metadata.RoleWrite))
	admin := e.clients(e.token("acme", metadata.RoleAdmin))
	for _, m := range []string{"base", "gone"} {
		acme.create(t, "acme", m, modulev1.ModuleVisibility_MODULE_VISIBILITY_PRIVATE)
	}
	for _, m := range []string{"top", "top2"} {
		admin.create(t, "acme", m, modulev1.ModuleVisibility_MODULE_VISIBILITY_PUBLIC)
	}
	_, err := acme.push(ctx, nil,
		content{owner: "acme", name: "base", files: map[string]string{"base.proto": proto3("base")}},
		content{owner: "acme", name: "gone", files: map[string]string{"gone.proto": proto3("gone")}},
		content{owner: "acme", name: "top", files: map[string]string{"top.proto": proto3("top", "base.proto")}},
		content{owner: "acme", name: "top2", files: map[string]string{"top2.proto": proto3("top2", "gone.proto")}})
	require.NoError(t, err)
	// gone's owner disappears: its commits are now a dependency that does not exist.
	_, err = e.db.Exec(ctx, `UPDATE buf_modules SET owner_id = ? WHERE name = 'gone'`, metadata.NewID())
	require.NoError(t, err)

	other := e.clients(e.org("other", false, metadata.RoleWrite))
	graph := func(c clients, name string) error {
		_, err := c.graph.GetGraph(ctx, req(modulev1.GetGraphRequest_builder{ResourceRefs: []*modulev1.ResourceRef{resRef("acme", name, "")}}.Build()))
		return err
	}
	graphB := func(c clients, name string) error {
		_, err := c.graphB.GetGraph(ctx, req(modulev1beta1.GetGraphRequest_builder{ResourceRefs: []*modulev1beta1.GetGraphRequest_ResourceRef{
			modulev1beta1.GetGraphRequest_ResourceRef_builder{ResourceRef: v1b1Ref(target{owner: "acme", module: name}, "")}.Build()}}.Build()))
		return err
	}
	for callerName, c := range map[string]clients{"anonymous": e.clients(""), "other org token": other} {
		for apiName, get := range map[string]func(clients, string) error{"v1": graph, "v1beta1": graphB} {
			t.Run(callerName+"/"+apiName, func(t *testing.T) {
				private, absent := get(c, "top"), get(c, "top2")
				require.Error(t, private)
				require.Equal(t, code(absent), code(private))
				require.Equal(t, strings.ReplaceAll(message(absent), "acme/top2", "acme/top"), message(private))
				require.Contains(t, message(private), "a dependency of acme/top is not available")
				require.NotContains(t, message(private), "base")
			})
		}
	}

	// other's private module depends on acme's public top; deleting top
	// names no module of other's.
	_, err = acme.push(ctx, nil, content{owner: "acme", name: "base", files: map[string]string{"base.proto": proto3("base") + "// public now\n"}})
	require.NoError(t, err)
	_, err = admin.module.UpdateModules(ctx, req(modulev1.UpdateModulesRequest_builder{Values: []*modulev1.UpdateModulesRequest_Value{
		modulev1.UpdateModulesRequest_Value_builder{ModuleRef: modRef("acme", "base"), Visibility: modulev1.ModuleVisibility_MODULE_VISIBILITY_PUBLIC.Enum()}.Build()}}.Build()))
	require.NoError(t, err)
	topCommit, err := other.commit.GetCommits(ctx, req(modulev1.GetCommitsRequest_builder{ResourceRefs: []*modulev1.ResourceRef{resRef("acme", "top", "")}}.Build()))
	require.NoError(t, err)
	other.create(t, "other", "secret", modulev1.ModuleVisibility_MODULE_VISIBILITY_PRIVATE)
	_, err = other.push(ctx, []string{topCommit.Msg.GetCommits()[0].GetId()},
		content{owner: "other", name: "secret", files: map[string]string{"secret.proto": proto3("secret", "top.proto")}})
	require.NoError(t, err)
	_, err = admin.module.DeleteModules(ctx, req(modulev1.DeleteModulesRequest_builder{ModuleRefs: []*modulev1.ModuleRef{modRef("acme", "top")}}.Build()))
	require.Equal(t, connect.CodeFailedPrecondition, code(err), "%v", err)
	require.NotContains(t, message(err), "secret")
	require.Contains(t, message(err), "other modules")
}

// TestVisibilityIsAnAdminAct: a write token creates private modules only;
// making a module or an organization public needs an admin token.
func TestVisibilityIsAnAdminAct(t *testing.T) {
	e := newEnv(t, "sqlite", DefaultConfig())
	ctx := context.Background()
	write := e.clients(e.org("acme", false, metadata.RoleWrite))
	admin := e.clients(e.token("acme", metadata.RoleAdmin))
	anon := e.clients("")
	createModule := func(c clients, name string, vis modulev1.ModuleVisibility) error {
		_, err := c.module.CreateModules(ctx, req(modulev1.CreateModulesRequest_builder{Values: []*modulev1.CreateModulesRequest_Value{
			modulev1.CreateModulesRequest_Value_builder{OwnerRef: ownerName("acme"), Name: name, Visibility: vis}.Build()}}.Build()))
		return err
	}
	getOwner := func(c clients) error {
		_, err := c.owner.GetOwners(ctx, req(ownerv1.GetOwnersRequest_builder{OwnerRefs: []*ownerv1.OwnerRef{ownerName("acme")}}.Build()))
		return err
	}

	err := createModule(write, "pub", modulev1.ModuleVisibility_MODULE_VISIBILITY_PUBLIC)
	require.Equal(t, connect.CodePermissionDenied, code(err), "%v", err)
	require.Contains(t, message(err), "public modules need an admin token")
	_, err = admin.module.GetModules(ctx, req(modulev1.GetModulesRequest_builder{ModuleRefs: []*modulev1.ModuleRef{modRef("acme", "pub")}}.Build()))
	require.Equal(t, connect.CodeNotFound, code(err), "nothing was created")
	require.Equal(t, connect.CodeUnauthenticated, code(getOwner(anon)), "the organization stays invisible anonymously")

	require.NoError(t, createModule(write, "priv", modulev1.ModuleVisibility_MODULE_VISIBILITY_PRIVATE))
	_, err = write.module.UpdateModules(ctx, req(modulev1.UpdateModulesRequest_builder{Values: []*modulev1.UpdateModulesRequest_Value{
		modulev1.UpdateModulesRequest_Value_builder{ModuleRef: modRef("acme", "priv"), Visibility: modulev1.ModuleVisibility_MODULE_VISIBILITY_PUBLIC.Enum()}.Build()}}.Build()))
	require.Equal(t, connect.CodePermissionDenied, code(err), "%v", err)
	require.Equal(t, VisibilityPrivate, e.module(t, "acme", "priv").Visibility)

	require.NoError(t, createModule(admin, "pub", modulev1.ModuleVisibility_MODULE_VISIBILITY_PUBLIC))
	require.Equal(t, VisibilityPublic, e.module(t, "acme", "pub").Visibility)
	require.NoError(t, getOwner(anon), "an admin's public module shows its organization")

	// Organizations: a site administrator's write token creates private ones only.
	_, err = e.admin.CreateUser(ctx, "root", true)
	require.NoError(t, err)
	createOrg := func(scope metadata.Role, name string, public bool) error {
		tok, _, err := e.admin.CreateToken(ctx, auth.CreateTokenRequest{Org: "acme", Scope: scope, User: "root"})
		require.NoError(t, err)
		vis := ownerv1.OrganizationVisibility_ORGANIZATION_VISIBILITY_PRIVATE
		if public {
			vis = ownerv1.OrganizationVisibility_ORGANIZATION_VISIBILITY_PUBLIC
		}
		_, err = e.clients(tok).org.CreateOrganizations(ctx, req(ownerv1.CreateOrganizationsRequest_builder{Values: []*ownerv1.CreateOrganizationsRequest_Value{
			ownerv1.CreateOrganizationsRequest_Value_builder{Name: name, Visibility: vis.Enum()}.Build()}}.Build()))
		return err
	}
	err = createOrg(metadata.RoleWrite, "shown", true)
	require.Equal(t, connect.CodePermissionDenied, code(err), "%v", err)
	_, err = e.meta.GetOrg(ctx, "shown")
	require.ErrorIs(t, err, errs.ErrNotFound)
	require.NoError(t, createOrg(metadata.RoleWrite, "quiet", false))
	require.NoError(t, createOrg(metadata.RoleAdmin, "shown", true))
}
