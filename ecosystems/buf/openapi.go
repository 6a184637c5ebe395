package buf

import (
	_ "embed"

	"github.com/packyard/packyard/pkg/api"
)

//go:embed openapi.yaml
var fragment []byte

// Fragment is the buf ecosystem's part of the admin API's OpenAPI document.
func Fragment() api.Fragment { return api.Fragment{Name: "buf", YAML: fragment} }
