package buf

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"connectrpc.com/connect"
	"golang.org/x/sync/errgroup"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/pluginpb"

	"github.com/packyard/packyard/ecosystems/buf/alpha/imagev1"
	alphav1 "github.com/packyard/packyard/ecosystems/buf/alpha/registryv1alpha1"
	"github.com/packyard/packyard/ecosystems/buf/alpha/registryv1alpha1/registryv1alpha1connect"
	"github.com/packyard/packyard/ecosystems/buf/plugin"
	"github.com/packyard/packyard/pkg/access"
	"github.com/packyard/packyard/pkg/errs"
)

// codegen serves remote code generation (CodeGenerationService) and the
// plugin lookups of PluginCurationService over the plugin catalog and the
// sandbox runner. Plugins follow their organization's read rules.
type codegen struct {
	registryv1alpha1connect.UnimplementedPluginCurationServiceHandler
	s   *Service
	cat *plugin.Catalog
	run *plugin.Runner
}

// readPlugin resolves a plugin reference the caller may read; a plugin of
// an organization the caller may not read is NotFound like a missing one.
func (g *codegen) readPlugin(ctx context.Context, owner, name, version string, revision int) (plugin.Plugin, error) {
	if err := g.authorizePlugin(ctx, owner, name); err != nil {
		return plugin.Plugin{}, err
	}
	return g.cat.Resolve(ctx, owner, name, version, revision)
}

func (g *codegen) authorizePlugin(ctx context.Context, owner, name string) error {
	err := g.s.authz.Authorize(ctx, principal(ctx), access.ActionRead,
		access.Resource{Org: owner, Kind: "buf plugin", Name: owner + "/" + name})
	if errors.Is(err, errs.ErrNotFound) || errors.Is(err, errs.ErrPermissionDenied) {
		return errs.NotFoundf("plugin %s/%s not found", owner, name)
	}
	return err
}

// GenerateCode runs each requested plugin on the image, as the buf CLI runs
// a local plugin, and answers the responses in request order.
func (g *codegen) GenerateCode(ctx context.Context, req *connect.Request[alphav1.GenerateCodeRequest]) (*connect.Response[alphav1.GenerateCodeResponse], error) {
	m := req.Msg
	if len(m.GetRequests()) == 0 {
		return nil, errs.Invalidf("no plugin to run")
	}
	files, imports, err := imageFiles(m.GetImage())
	if err != nil {
		return nil, err
	}
	plugins := make([]plugin.Plugin, len(m.GetRequests()))
	for i, r := range m.GetRequests() {
		ref := r.GetPluginReference()
		if ref.GetOwner() == "" || ref.GetName() == "" {
			return nil, errs.Invalidf("plugin reference %d names no owner or plugin", i+1)
		}
		if plugins[i], err = g.readPlugin(ctx, ref.GetOwner(), ref.GetName(), ref.GetVersion(), int(ref.GetRevision())); err != nil {
			return nil, err
		}
	}
	out := make([]*alphav1.PluginGenerationResponse, len(plugins))
	eg, egCtx := errgroup.WithContext(ctx)
	for i, r := range m.GetRequests() {
		includeImports := m.GetIncludeImports() || r.GetIncludeImports()
		includeWKT := m.GetIncludeWellKnownTypes() || r.GetIncludeWellKnownTypes()
		generate := plugin.FilesToGenerate(files, func(j int) bool { return imports[j] }, includeImports, includeWKT)
		creq := plugin.NewRequest(files, generate, strings.Join(r.GetOptions(), ","))
		eg.Go(func() error {
			res := new(pluginpb.CodeGeneratorResponse)
			if len(generate) > 0 { // the CLI runs no plugin on an empty request
				var err error
				if res, err = g.run.Run(egCtx, plugins[i], creq); err != nil {
					return err
				}
			}
			out[i] = &alphav1.PluginGenerationResponse{Response: res}
			return nil
		})
	}
	if err := eg.Wait(); err != nil {
		return nil, err
	}
	return connect.NewResponse(&alphav1.GenerateCodeResponse{Responses: out}), nil
}

// imageFiles turns an image into FileDescriptorProtos, in the image's order
// (dependencies first), without buf's extension, and tells which files are
// imports.
func imageFiles(img *imagev1.Image) ([]*descriptorpb.FileDescriptorProto, []bool, error) {
	if len(img.GetFile()) == 0 {
		return nil, nil, errs.Invalidf("the image has no files")
	}
	files := make([]*descriptorpb.FileDescriptorProto, len(img.GetFile()))
	imports := make([]bool, len(files))
	seen := make(map[string]bool, len(files))
	for i, f := range img.GetFile() {
		if f.GetName() == "" || seen[f.GetName()] {
			return nil, nil, errs.Invalidf("image file %d has no name or a name given twice", i+1)
		}
		seen[f.GetName()] = true
		imports[i] = f.GetBufExtension().GetIsImport()
		ext := f.BufExtension
		f.BufExtension = nil
		b, err := proto.Marshal(f)
		f.BufExtension = ext
		fd := new(descriptorpb.FileDescriptorProto)
		if err == nil {
			err = proto.Unmarshal(b, fd)
		}
		if err != nil {
			return nil, nil, errs.Wrap(errs.ErrInvalidArgument, "image file "+strconv.Quote(f.GetName())+" is not a file descriptor", err)
		}
		files[i] = fd
	}
	return files, imports, nil
}

// GetLatestCuratedPlugin answers a plugin (the latest version and revision
// unless the request names them) with every version and its revisions.
func (g *codegen) GetLatestCuratedPlugin(ctx context.Context, req *connect.Request[alphav1.GetLatestCuratedPluginRequest]) (*connect.Response[alphav1.GetLatestCuratedPluginResponse], error) {
	m := req.Msg
	p, err := g.readPlugin(ctx, m.GetOwner(), m.GetName(), m.GetVersion(), int(m.GetRevision()))
	if err != nil {
		return nil, err
	}
	all, err := g.cat.Revisions(ctx, p.Owner, p.Name)
	if err != nil {
		return nil, err
	}
	res := &alphav1.GetLatestCuratedPluginResponse{Plugin: g.curated(ctx, p)}
	for _, r := range all { // newest version first, then newest revision
		n := len(res.Versions)
		if n == 0 || res.Versions[n-1].Version != r.Version {
			res.Versions = append(res.Versions, &alphav1.CuratedPluginVersionRevisions{Version: r.Version})
			n++
		}
		res.Versions[n-1].Revisions = append(res.Versions[n-1].Revisions, uint32(r.Revision))
	}
	return connect.NewResponse(res), nil
}

// ListCuratedPlugins lists the latest version and revision of every plugin
// the caller may read, by owner and name, a page at a time.
func (g *codegen) ListCuratedPlugins(ctx context.Context, req *connect.Request[alphav1.ListCuratedPluginsRequest]) (*connect.Response[alphav1.ListCuratedPluginsResponse], error) {
	m := req.Msg
	size := int(m.GetPageSize())
	if size <= 0 || size > g.s.cfg.MaxRefsPerRequest {
		size = g.s.cfg.MaxRefsPerRequest
	}
	offset := 0
	if t := m.GetPageToken(); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil || n < 0 {
			return nil, errs.Invalidf("page token %q is invalid", t)
		}
		offset = n
	}
	all, err := g.cat.List(ctx, "")
	if err != nil {
		return nil, err
	}
	var latest []plugin.Plugin
	readable := map[string]bool{}
	for _, p := range all { // newest version and revision of each plugin first
		if n := len(latest); n > 0 && latest[n-1].FullName() == p.FullName() {
			continue
		}
		ok, seen := readable[p.Owner]
		if !seen {
			err := g.authorizePlugin(ctx, p.Owner, p.Name)
			if err != nil && !errors.Is(err, errs.ErrNotFound) && !errors.Is(err, errs.ErrUnauthenticated) {
				return nil, err
			}
			ok = err == nil
			readable[p.Owner] = ok
		}
		if ok {
			latest = append(latest, p)
		}
	}
	if m.GetReverse() {
		for i, j := 0, len(latest)-1; i < j; i, j = i+1, j-1 {
			latest[i], latest[j] = latest[j], latest[i]
		}
	}
	res := &alphav1.ListCuratedPluginsResponse{}
	for i := offset; i < len(latest) && i < offset+size; i++ {
		res.Plugins = append(res.Plugins, g.curated(ctx, latest[i]))
	}
	if offset+size < len(latest) {
		res.NextPageToken = strconv.Itoa(offset + size)
	}
	return connect.NewResponse(res), nil
}

// curated describes a plugin as the registry API does; a plugin with Go
// settings is a Go plugin, whose SDKs the Go module proxy serves.
func (g *codegen) curated(ctx context.Context, p plugin.Plugin) *alphav1.CuratedPlugin {
	c := &alphav1.CuratedPlugin{
		Id: p.ID, Owner: p.Owner, Name: p.Name, Version: p.Version, Revision: uint32(p.Revision),
		ContainerImageDigest: "sha256:" + p.WasmDigest,
		CreateTime:           timestamppb.New(p.CreatedAt),
		Visibility:           alphav1.CuratedPluginVisibility_CURATED_PLUGIN_VISIBILITY_PRIVATE,
	}
	if o, err := g.s.meta.GetOrg(ctx, p.Owner); err == nil && o.Public {
		c.Visibility = alphav1.CuratedPluginVisibility_CURATED_PLUGIN_VISIBILITY_PUBLIC
	}
	if owner, name, ok := strings.Cut(p.BasePlugin, "/"); ok {
		c.Dependencies = []*alphav1.CuratedPluginReference{{Owner: owner, Name: name}}
	}
	if len(p.GoDeps) == 0 && p.GoMinVersion == "" && p.BasePlugin == "" {
		return c
	}
	goc := &alphav1.GoConfig{MinimumVersion: p.GoMinVersion}
	for _, d := range p.GoDeps {
		mod, ver, _ := strings.Cut(d, "@")
		goc.RuntimeLibraries = append(goc.RuntimeLibraries, &alphav1.GoConfig_RuntimeLibrary{Module: mod, Version: ver})
	}
	c.RegistryType = alphav1.PluginRegistryType_PLUGIN_REGISTRY_TYPE_GO
	c.OutputLanguages = []alphav1.PluginLanguage{alphav1.PluginLanguage_PLUGIN_LANGUAGE_GO}
	c.RegistryConfig = &alphav1.RegistryConfig{RegistryConfig: &alphav1.RegistryConfig_GoConfig{GoConfig: goc}}
	return c
}
