package metadata

import (
	"slices"
	"strings"

	"github.com/packyard/packyard/pkg/errs"
)

// ReservedOrgNames are the first path segments packyard serves itself (its
// protocols, APIs, health and metrics, sign-in and the web UI's own pages
// and static files): an organization of one of these names would have no
// reachable page at /{org}, so none may be created, by any path (CLI, API,
// buf's CreateOrganization).
var ReservedOrgNames = []string{"-", "api", "auth", "buf", "composer", "favicon.ico", "gen", "grpc", "healthz",
	"metrics", "oauth2", "readyz", "robots.txt", "static"}

// CheckOrgName refuses an invalid organization name (ValidateName), one of
// ReservedOrgNames, or one that begins like the paths of the buf and gRPC
// services packyard serves at the root ("buf.", "grpc.").
func CheckOrgName(name string) error {
	if err := ValidateName("organization", name); err != nil {
		return err
	}
	if slices.Contains(ReservedOrgNames, name) {
		return errs.Invalidf("organization name %q is reserved: packyard serves its own pages or APIs at /%s; choose another name", name, name)
	}
	for _, prefix := range []string{"buf.", "grpc."} {
		if strings.HasPrefix(name, prefix) {
			return errs.Invalidf("organization name %q is reserved: packyard serves its buf and gRPC services at /%s…; choose another name", name, prefix)
		}
	}
	return nil
}
