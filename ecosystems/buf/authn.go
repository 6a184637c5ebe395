package buf

import (
	"context"

	"connectrpc.com/connect"

	registryv1alpha1 "github.com/packyard/packyard/ecosystems/buf/alpha/registryv1alpha1"
	"github.com/packyard/packyard/ecosystems/buf/alpha/registryv1alpha1/registryv1alpha1connect"
)

// authn serves the alpha AuthnService, which the generated registry SDK
// lacks and the buf CLI's token login calls: GetCurrentUser answers the
// signed-in user's id and name, or Unauthenticated. Its messages are
// packyard's own in ecosystems/buf/alpha.
type authn struct {
	registryv1alpha1connect.UnimplementedAuthnServiceHandler
	s *Service
}

func (a *authn) GetCurrentUser(ctx context.Context, _ *connect.Request[registryv1alpha1.GetCurrentUserRequest]) (*connect.Response[registryv1alpha1.GetCurrentUserResponse], error) {
	u, err := a.s.CurrentUser(ctx)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&registryv1alpha1.GetCurrentUserResponse{
		User: &registryv1alpha1.User{Id: u.ID, Username: u.Name},
	}), nil
}
