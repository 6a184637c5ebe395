// Package buf is packyard's Buf Schema Registry: the Connect services the
// unmodified buf CLI calls to push, resolve and download protobuf modules,
// manage modules, labels, commits and organizations, and log in with a
// token. Modules are {host}/{owner}/{module}, where the owner is a packyard
// organization or user. Metadata lives in the buf_* tables of the metadata
// store; file contents live in the CAS shared with the other ecosystems.
//
// Where things are: ecosystem.go mounts the routes; v1.go, v1beta1.go and
// authn.go are thin Connect adapters, and convert.go reads and writes their
// generated messages; service.go (owners, access, references), modules.go
// (modules and labels), owners.go (organizations and users, with their
// adapters), read.go (graphs and downloads) and upload.go (a push, in
// phases: prepare, resolve, plan, link, store, commit) are the registry
// itself; link.go compiles pushed files; store.go holds all of the
// ecosystem's SQL. The pure rules of a module (files, names, imports,
// digests, dependency resolution) live in the sub-package module.
package buf

import (
	"fmt"
	"net/http"

	"buf.build/gen/go/bufbuild/registry/connectrpc/go/buf/registry/module/v1/modulev1connect"
	"buf.build/gen/go/bufbuild/registry/connectrpc/go/buf/registry/module/v1beta1/modulev1beta1connect"
	"buf.build/gen/go/bufbuild/registry/connectrpc/go/buf/registry/owner/v1/ownerv1connect"
	"connectrpc.com/connect"
	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/packyard/packyard/ecosystems/buf/alpha/registryv1alpha1/registryv1alpha1connect"
	"github.com/packyard/packyard/ecosystems/buf/plugin"
	"github.com/packyard/packyard/pkg/cas"
	"github.com/packyard/packyard/pkg/ecosystem"
)

// Module provides the buf ecosystem to packyard's fx application.
var Module = fx.Module("buf",
	fx.Provide(fx.Private, ConfigFromEnv),
	plugin.Module,
	fx.Provide(New, ecosystem.As(NewEcosystem), cas.AsSweeper(refSweeper)),
	fx.Provide(fx.Annotate(Fragment, fx.ResultTags(`group:"openapi"`))),
	fx.Decorate(func(l *zap.Logger) *zap.Logger { return l.Named("buf") }),
)

// Ecosystem registers the buf registry's routes.
type Ecosystem struct {
	s *Service
}

var _ ecosystem.Ecosystem = (*Ecosystem)(nil)

// NewEcosystem returns the buf ecosystem over s.
func NewEcosystem(s *Service) *Ecosystem {
	return &Ecosystem{s: s}
}

// Name is "buf".
func (e *Ecosystem) Name() string { return "buf" }

// Register mounts the Connect services at the root of the listener, where
// the buf CLI calls them.
func (e *Ecosystem) Register(r ecosystem.Router) error {
	for path, h := range e.Handlers(r.ConnectOptions()...) {
		r.Handle(path, h)
	}
	if e.s.cat != nil {
		for pattern, h := range (&pluginAPI{s: e.s, cat: e.s.cat}).routes() {
			r.Handle(pattern, h)
		}
	}
	for pattern, h := range (&moduleAPI{s: e.s}).routes() {
		r.Handle(pattern, h)
	}
	return nil
}

// Handlers returns every route of the registry by path, built with the
// kernel's Connect options (which map errors to Connect codes) and the
// registry's own limits on requests and responses.
func (e *Ecosystem) Handlers(kernel ...connect.HandlerOption) map[string]http.Handler {
	s := e.s
	opts := append(append([]connect.HandlerOption(nil), kernel...),
		connect.WithReadMaxBytes(int(s.cfg.MaxUploadSize)),
		connect.WithInterceptors(limits{cfg: s.cfg}),
	)
	v1h := &v1{s: s}
	v1b := &v1beta1{s: s}
	own := &ownerHandler{s: s}
	usr := &userHandler{s: s}
	out := map[string]http.Handler{}
	add := func(path string, h http.Handler) { out[path] = e.wrap(h) }
	add(modulev1connect.NewModuleServiceHandler(&v1Module{s: s}, opts...))
	add(modulev1connect.NewCommitServiceHandler(v1h, opts...))
	add(modulev1connect.NewLabelServiceHandler(v1h, opts...))
	add(modulev1connect.NewResourceServiceHandler(v1h, opts...))
	add(modulev1connect.NewGraphServiceHandler(v1h, opts...))
	add(precompressedRoute(modulev1connect.NewDownloadServiceHandler(v1h, opts...)))
	add(modulev1connect.NewUploadServiceHandler(v1h, opts...))
	add(modulev1connect.NewFileDescriptorSetServiceHandler(v1h, opts...))
	add(modulev1beta1connect.NewCommitServiceHandler(v1b, opts...))
	add(modulev1beta1connect.NewGraphServiceHandler(v1b, opts...))
	add(precompressedRoute(modulev1beta1connect.NewDownloadServiceHandler(v1b, opts...)))
	add(modulev1beta1connect.NewUploadServiceHandler(v1b, opts...))
	add(ownerv1connect.NewOwnerServiceHandler(own, opts...))
	add(ownerv1connect.NewOrganizationServiceHandler(own, opts...))
	add(ownerv1connect.NewUserServiceHandler(usr, opts...))
	add(registryv1alpha1connect.NewAuthnServiceHandler(&authn{s: s}, opts...))
	if s.cat != nil && s.run != nil {
		cg := &codegen{s: s, cat: s.cat, run: s.run}
		add(registryv1alpha1connect.NewCodeGenerationServiceHandler(cg, opts...))
		add(registryv1alpha1connect.NewPluginCurationServiceHandler(cg, opts...))
	}
	return out
}

// wrap records the request's host and refuses bodies over the upload limit
// before they are read.
func (e *Ecosystem) wrap(h http.Handler) http.Handler {
	max := e.s.cfg.MaxUploadSize
	ew := connect.NewErrorWriter()
	return withHost(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > max {
			_ = ew.Write(w, r, connect.NewError(connect.CodeInvalidArgument,
				fmt.Errorf("request of %d bytes exceeds the limit of %d bytes (PACKYARD_BUF_MAX_UPLOAD_SIZE)", r.ContentLength, max)))
			return
		}
		h.ServeHTTP(w, r)
	}))
}
