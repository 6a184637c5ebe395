package sdk

import (
	"net/url"
	"strings"

	"github.com/packyard/packyard/pkg/config"
)

// Config is the SDK proxy's configuration.
type Config struct {
	// Host is the first element of every SDK module path
	// (PACKYARD_BUF_SDK_HOST; default: the host of PACKYARD_BASE_URL, else
	// the host each request was addressed to, without its port).
	Host string
}

// ConfigFromEnv reads PACKYARD_BUF_SDK_HOST.
func ConfigFromEnv(env config.Env) (Config, error) {
	l := config.NewLoader(env)
	c := Config{Host: l.String("PACKYARD_BUF_SDK_HOST", "")}
	if c.Host != "" {
		if err := ValidateHost(c.Host); err != nil {
			l.Fail("PACKYARD_BUF_SDK_HOST", "%v", err)
		}
	} else if u, err := url.Parse(l.String("PACKYARD_BASE_URL", "")); err == nil && ValidateHost(strings.ToLower(u.Hostname())) == nil {
		c.Host = strings.ToLower(u.Hostname())
	}
	return c, l.Err()
}
