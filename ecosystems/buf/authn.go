package buf

import (
	"context"
	"fmt"
	"net/http"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
)

// The buf CLI's token login calls buf.alpha.registry.v1alpha1.AuthnService/
// GetCurrentUser, which the generated registry SDK does not contain. The few
// messages it needs are described here; only package, service, method names
// and field numbers matter on the wire.
const (
	alphaPackage     = "buf.alpha.registry.v1alpha1"
	authnService     = alphaPackage + ".AuthnService"
	getCurrentUserRP = "/" + authnService + "/GetCurrentUser"
)

// alphaAuthn is the method descriptor of AuthnService.GetCurrentUser.
type alphaAuthn struct {
	method protoreflect.MethodDescriptor
	user   protoreflect.MessageDescriptor
}

func newAlphaAuthn() (*alphaAuthn, error) {
	str := func(name string, num int32) *descriptorpb.FieldDescriptorProto {
		return &descriptorpb.FieldDescriptorProto{
			Name: proto.String(name), JsonName: proto.String(name), Number: proto.Int32(num),
			Label: descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(), Type: descriptorpb.FieldDescriptorProto_TYPE_STRING.Enum(),
		}
	}
	fd := &descriptorpb.FileDescriptorProto{
		Name:    proto.String("packyard/buf/alpha/authn.proto"),
		Package: proto.String(alphaPackage),
		Syntax:  proto.String("proto3"),
		MessageType: []*descriptorpb.DescriptorProto{
			{Name: proto.String("GetCurrentUserRequest")},
			{Name: proto.String("User"), Field: []*descriptorpb.FieldDescriptorProto{str("id", 1), str("username", 4)}},
			{Name: proto.String("GetCurrentUserResponse"), Field: []*descriptorpb.FieldDescriptorProto{{
				Name: proto.String("user"), JsonName: proto.String("user"), Number: proto.Int32(1),
				Label:    descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(),
				Type:     descriptorpb.FieldDescriptorProto_TYPE_MESSAGE.Enum(),
				TypeName: proto.String("." + alphaPackage + ".User"),
			}}},
		},
		Service: []*descriptorpb.ServiceDescriptorProto{{
			Name: proto.String("AuthnService"),
			Method: []*descriptorpb.MethodDescriptorProto{{
				Name:       proto.String("GetCurrentUser"),
				InputType:  proto.String("." + alphaPackage + ".GetCurrentUserRequest"),
				OutputType: proto.String("." + alphaPackage + ".GetCurrentUserResponse"),
			}},
		}},
	}
	f, err := protodesc.NewFile(fd, new(protoregistry.Files))
	if err != nil {
		return nil, fmt.Errorf("buf: describe AuthnService: %w", err)
	}
	return &alphaAuthn{
		method: f.Services().Get(0).Methods().Get(0),
		user:   f.Messages().ByName("User"),
	}, nil
}

// handler serves GetCurrentUser: the signed-in user's id and name, or
// Unauthenticated.
func (a *alphaAuthn) handler(s *Service, opts ...connect.HandlerOption) http.Handler {
	opts = append(opts,
		connect.WithSchema(a.method),
		connect.WithIdempotency(connect.IdempotencyNoSideEffects),
		connect.WithRequestInitializer(func(_ connect.Spec, msg any) error {
			m, ok := msg.(*dynamicpb.Message)
			if !ok {
				return fmt.Errorf("unexpected request type %T", msg)
			}
			*m = *dynamicpb.NewMessage(a.method.Input())
			return nil
		}),
	)
	return connect.NewUnaryHandler(getCurrentUserRP,
		func(ctx context.Context, _ *connect.Request[dynamicpb.Message]) (*connect.Response[dynamicpb.Message], error) {
			u, err := s.CurrentUser(ctx)
			if err != nil {
				return nil, err
			}
			user := dynamicpb.NewMessage(a.user)
			user.Set(a.user.Fields().ByName("id"), protoreflect.ValueOfString(u.ID))
			user.Set(a.user.Fields().ByName("username"), protoreflect.ValueOfString(u.Name))
			out := dynamicpb.NewMessage(a.method.Output())
			out.Set(a.method.Output().Fields().ByName("user"), protoreflect.ValueOfMessage(user))
			return connect.NewResponse(out), nil
		}, opts...)
}
