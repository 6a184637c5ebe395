package buf

import (
	"github.com/packyard/packyard/ecosystems/buf/module"
	"github.com/packyard/packyard/pkg/config"
)

// Config is the buf registry's configuration (PACKYARD_BUF_*).
type Config struct {
	// MaxFileSize caps one module file (PACKYARD_BUF_MAX_FILE_SIZE, default 4MiB).
	MaxFileSize int64
	// MaxUploadSize caps one upload request body (PACKYARD_BUF_MAX_UPLOAD_SIZE, default 64MiB).
	MaxUploadSize int64
	// MaxFiles caps the files of one module (PACKYARD_BUF_MAX_FILES, default 10000).
	MaxFiles int
	// MaxGraphNodes caps the commits of one dependency graph (PACKYARD_BUF_MAX_GRAPH_NODES, default 5000).
	MaxGraphNodes int
	// MaxRefsPerRequest caps the references or values of any one list of a
	// request (PACKYARD_BUF_MAX_REFS_PER_REQUEST, default 250, the registry
	// API's own maximum).
	MaxRefsPerRequest int
	// MaxResponseBytes caps one response, a download's files included
	// (PACKYARD_BUF_MAX_RESPONSE_BYTES, default 128MiB).
	MaxResponseBytes int64
	// DefaultLabel is the default label of new modules that name none (PACKYARD_BUF_DEFAULT_LABEL, default "main").
	DefaultLabel string
}

// ConfigFromEnv reads the PACKYARD_BUF_* variables.
func ConfigFromEnv(env config.Env) (Config, error) {
	l := config.NewLoader(env)
	c := Config{
		MaxFileSize:       l.Size("PACKYARD_BUF_MAX_FILE_SIZE", 4<<20),
		MaxUploadSize:     l.Size("PACKYARD_BUF_MAX_UPLOAD_SIZE", 64<<20),
		MaxFiles:          l.Int("PACKYARD_BUF_MAX_FILES", 10000, 1, 1000000),
		MaxGraphNodes:     l.Int("PACKYARD_BUF_MAX_GRAPH_NODES", 5000, 1, 1000000),
		MaxRefsPerRequest: l.Int("PACKYARD_BUF_MAX_REFS_PER_REQUEST", 250, 1, 100000),
		MaxResponseBytes:  l.Size("PACKYARD_BUF_MAX_RESPONSE_BYTES", 128<<20),
		DefaultLabel:      l.String("PACKYARD_BUF_DEFAULT_LABEL", "main"),
	}
	if err := module.ValidateLabelName(c.DefaultLabel); err != nil {
		l.Fail("PACKYARD_BUF_DEFAULT_LABEL", "%v", err)
	}
	if c.MaxUploadSize > 1<<31-1 {
		l.Fail("PACKYARD_BUF_MAX_UPLOAD_SIZE", "must be below 2GiB")
	}
	if c.MaxResponseBytes > 1<<31-1 || c.MaxResponseBytes < 1<<10 {
		l.Fail("PACKYARD_BUF_MAX_RESPONSE_BYTES", "must be between 1KiB and 2GiB")
	}
	return c, l.Err()
}

// DefaultConfig is the configuration with every default.
func DefaultConfig() Config {
	c, _ := ConfigFromEnv(config.Map(nil))
	return c
}
