package sdk

import (
	"context"
	_ "embed"
	"fmt"
	"net/http"

	"connectrpc.com/connect"
	"github.com/bufbuild/protocompile"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/packyard/packyard/pkg/errs"
)

// resolveProto describes the ResolveService methods served here.
//
//go:embed proto/resolve.proto
var resolveProto string

const resolveService = "buf.alpha.registry.v1alpha1.ResolveService"

// resolveMethods are the descriptors of ResolveService's methods, compiled
// from resolveProto into a registry of their own (never the global one).
type resolveMethods struct {
	goVersion protoreflect.MethodDescriptor
	sdkInfo   protoreflect.MethodDescriptor
}

func newResolveMethods(ctx context.Context) (resolveMethods, error) {
	c := protocompile.Compiler{Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{
		Accessor: protocompile.SourceAccessorFromMap(map[string]string{"packyard/resolve.proto": resolveProto}),
	})}
	files, err := c.Compile(ctx, "packyard/resolve.proto")
	if err != nil {
		return resolveMethods{}, fmt.Errorf("sdk: describe ResolveService: %w", err)
	}
	svc := files[0].Services().ByName("ResolveService")
	return resolveMethods{goVersion: svc.Methods().ByName("GetGoVersion"), sdkInfo: svc.Methods().ByName("GetSDKInfo")}, nil
}

// msg reads and writes a dynamic message by field name.
type msg struct{ m *dynamicpb.Message }

func (x msg) str(name string) string {
	return x.m.Get(x.m.Descriptor().Fields().ByName(protoreflect.Name(name))).String()
}

func (x msg) uint(name string) uint32 {
	return uint32(x.m.Get(x.m.Descriptor().Fields().ByName(protoreflect.Name(name))).Uint())
}

func (x msg) child(name string) msg {
	return msg{x.m.Get(x.m.Descriptor().Fields().ByName(protoreflect.Name(name))).Message().Interface().(*dynamicpb.Message)}
}

func (x msg) set(name string, v any) msg {
	f := x.m.Descriptor().Fields().ByName(protoreflect.Name(name))
	switch v := v.(type) {
	case string:
		x.m.Set(f, protoreflect.ValueOfString(v))
	case uint32:
		x.m.Set(f, protoreflect.ValueOfUint32(v))
	case msg:
		x.m.Set(f, protoreflect.ValueOfMessage(v.m))
	}
	return x
}

func (x msg) newChild(name string) msg {
	return msg{dynamicpb.NewMessage(x.m.Descriptor().Fields().ByName(protoreflect.Name(name)).Message())}
}

type hostKey struct{}

// resolveHandlers serves ResolveService.GetGoVersion and GetSDKInfo.
func (e *Ecosystem) resolveHandlers(opts ...connect.HandlerOption) map[string]http.Handler {
	out := map[string]http.Handler{}
	add := func(m protoreflect.MethodDescriptor, fn func(ctx context.Context, req msg, host string) (msg, error)) {
		path := "/" + resolveService + "/" + string(m.Name())
		h := connect.NewUnaryHandler(path,
			func(ctx context.Context, r *connect.Request[dynamicpb.Message]) (*connect.Response[dynamicpb.Message], error) {
				host, ok := ctx.Value(hostKey{}).(string)
				if !ok {
					return nil, errs.NotFoundf("set PACKYARD_BUF_SDK_HOST: this request's host cannot begin a Go module path")
				}
				out, err := fn(ctx, msg{r.Msg}, host)
				if err != nil {
					return nil, err
				}
				return connect.NewResponse(out.m), nil
			},
			append(append([]connect.HandlerOption(nil), opts...),
				connect.WithSchema(m),
				connect.WithIdempotency(connect.IdempotencyNoSideEffects),
				connect.WithRequestInitializer(func(_ connect.Spec, x any) error {
					d, ok := x.(*dynamicpb.Message)
					if !ok {
						return fmt.Errorf("unexpected request type %T", x)
					}
					*d = *dynamicpb.NewMessage(m.Input())
					return nil
				}))...)
		out[path] = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if host, err := e.h.host(r); err == nil {
				r = r.WithContext(context.WithValue(r.Context(), hostKey{}, host))
			}
			h.ServeHTTP(w, r)
		})
	}
	add(e.resolve.goVersion, func(ctx context.Context, req msg, host string) (msg, error) {
		t, err := e.s.resolveSDK(ctx, host, req.child("module_reference"), req.child("plugin_reference"), "")
		if err != nil {
			return msg{}, err
		}
		return msg{dynamicpb.NewMessage(e.resolve.goVersion.Output())}.set("version", t.version.String()), nil
	})
	add(e.resolve.sdkInfo, func(ctx context.Context, req msg, host string) (msg, error) {
		t, err := e.s.resolveSDK(ctx, host, req.child("module_reference"), req.child("plugin_reference"), req.str("sdk_version"))
		if err != nil {
			return msg{}, err
		}
		out := msg{dynamicpb.NewMessage(e.resolve.sdkInfo.Output())}
		mi := out.newChild("module_info").set("owner", t.module.OwnerName).set("name", t.module.Name).set("commit", t.commit.ID)
		mi.m.Set(mi.m.Descriptor().Fields().ByName("module_commit_create_time"),
			protoreflect.ValueOfMessage(dynamicTimestamp(mi, t)))
		pi := out.newChild("plugin_info").set("owner", t.plugin.Owner).set("name", t.plugin.Name).
			set("version", t.plugin.Version).set("plugin_revision", uint32(t.plugin.Revision))
		return out.set("module_info", mi).set("plugin_info", pi).set("sdk_version", t.version.String()), nil
	})
	return out
}

// dynamicTimestamp is the commit time as the ModuleInfo's dynamic Timestamp.
func dynamicTimestamp(mi msg, t target) protoreflect.Message {
	ts := timestamppb.New(t.commit.CreatedAt)
	d := dynamicpb.NewMessage(mi.m.Descriptor().Fields().ByName("module_commit_create_time").Message())
	d.Set(d.Descriptor().Fields().ByName("seconds"), protoreflect.ValueOfInt64(ts.GetSeconds()))
	d.Set(d.Descriptor().Fields().ByName("nanos"), protoreflect.ValueOfInt32(ts.GetNanos()))
	return d
}

// resolveSDK resolves the SDK a ResolveService request names: a module
// reference (owner, module, label or commit), a plugin (owner, name,
// optional version and revision) and optionally an SDK version to check.
func (s *Service) resolveSDK(ctx context.Context, host string, mod, pl msg, sdkVersion string) (target, error) {
	mp := ModulePath{Host: host, Owner: mod.str("owner"), Module: mod.str("repository"),
		PluginOwner: pl.str("owner"), Plugin: pl.str("name")}
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
	t, err := s.resolveRef(ctx, mp, mod.str("reference"))
	if err != nil {
		return target{}, err
	}
	if version, rev := pl.str("version"), int(pl.uint("revision")); version != "" || rev != 0 {
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
