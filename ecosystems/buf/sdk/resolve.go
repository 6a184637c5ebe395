package sdk

import (
	"context"
	"net/http"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	registryv1alpha1 "github.com/packyard/packyard/ecosystems/buf/alpha/registryv1alpha1"
	"github.com/packyard/packyard/ecosystems/buf/alpha/registryv1alpha1/registryv1alpha1connect"
	"github.com/packyard/packyard/pkg/errs"
)

// resolver serves the alpha ResolveService's GetGoVersion and GetSDKInfo,
// which `buf registry sdk version` calls. Its messages are packyard's own
// in ecosystems/buf/alpha.
type resolver struct {
	registryv1alpha1connect.UnimplementedResolveServiceHandler
	s *Service
}

type hostKey struct{}

// hostFrom is the Go module host the request named, which the handler
// recorded; without one no SDK path can be resolved.
func hostFrom(ctx context.Context) (string, error) {
	host, ok := ctx.Value(hostKey{}).(string)
	if !ok {
		return "", errs.NotFoundf("set PACKYARD_BUF_SDK_HOST: this request's host cannot begin a Go module path")
	}
	return host, nil
}

func (rs *resolver) GetGoVersion(ctx context.Context, r *connect.Request[registryv1alpha1.GetGoVersionRequest]) (*connect.Response[registryv1alpha1.GetGoVersionResponse], error) {
	host, err := hostFrom(ctx)
	if err != nil {
		return nil, err
	}
	t, err := rs.s.resolveSDK(ctx, host, r.Msg.GetModuleReference(), r.Msg.GetPluginReference(), "")
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&registryv1alpha1.GetGoVersionResponse{Version: t.version.String()}), nil
}

func (rs *resolver) GetSDKInfo(ctx context.Context, r *connect.Request[registryv1alpha1.GetSDKInfoRequest]) (*connect.Response[registryv1alpha1.GetSDKInfoResponse], error) {
	host, err := hostFrom(ctx)
	if err != nil {
		return nil, err
	}
	t, err := rs.s.resolveSDK(ctx, host, r.Msg.GetModuleReference(), r.Msg.GetPluginReference(), r.Msg.GetSdkVersion())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&registryv1alpha1.GetSDKInfoResponse{
		ModuleInfo: &registryv1alpha1.GetSDKInfoResponse_ModuleInfo{
			Owner: t.module.OwnerName, Name: t.module.Name, Commit: t.commit.ID,
			ModuleCommitCreateTime: timestamppb.New(t.commit.CreatedAt),
		},
		PluginInfo: &registryv1alpha1.GetSDKInfoResponse_PluginInfo{
			Owner: t.plugin.Owner, Name: t.plugin.Name, Version: t.plugin.Version, PluginRevision: uint32(t.plugin.Revision),
		},
		SdkVersion: t.version.String(),
	}), nil
}

// resolveHandler is ResolveService's route, recording the request's host
// (as the Go module proxy reads it) for the methods.
func (e *Ecosystem) resolveHandler(opts ...connect.HandlerOption) (string, http.Handler) {
	path, h := registryv1alpha1connect.NewResolveServiceHandler(&resolver{s: e.s}, opts...)
	return path, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if host, err := e.h.host(r); err == nil {
			r = r.WithContext(context.WithValue(r.Context(), hostKey{}, host))
		}
		h.ServeHTTP(w, r)
	})
}

// resolveSDK resolves the SDK a ResolveService request names: a module
// reference (owner, module, label or commit), a plugin (owner, name,
// optional version and revision) and optionally an SDK version to check.
func (s *Service) resolveSDK(ctx context.Context, host string, mod *registryv1alpha1.LocalModuleReference, pl *registryv1alpha1.GetRemotePackageVersionPlugin, sdkVersion string) (target, error) {
	mp := ModulePath{Host: host, Owner: mod.GetOwner(), Module: mod.GetRepository(),
		PluginOwner: pl.GetOwner(), Plugin: pl.GetName()}
	if mp.Owner == "" || mp.Module == "" || mp.PluginOwner == "" || mp.Plugin == "" {
		return target{}, errs.Invalidf("a module reference (owner, repository) and a plugin reference (owner, name) are required")
	}
	if sdkVersion != "" {
		v, err := ParseVersion(sdkVersion)
		if err != nil {
			return target{}, err
		}
		return s.resolveVersion(ctx, mp, v)
	}
	t, err := s.resolveRef(ctx, mp, mod.GetReference())
	if err != nil {
		return target{}, err
	}
	if version, rev := pl.GetVersion(), int(pl.GetRevision()); version != "" || rev != 0 {
		p, err := s.plugin(ctx, mp.PluginOwner, mp.Plugin, version, rev)
		if err != nil {
			return target{}, err
		}
		if t.version, err = s.versionOf(ctx, t.module, t.commit, p); err != nil {
			return target{}, err
		}
		t.plugin = p
	}
	return t, nil
}
