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
	// DefaultLabel is the default label of new modules that name none (PACKYARD_BUF_DEFAULT_LABEL, default "main").
	DefaultLabel string
}

// ConfigFromEnv reads the PACKYARD_BUF_* variables.
func ConfigFromEnv(env config.Env) (Config, error) {
	l := config.NewLoader(env)
	c := Config{
		MaxFileSize:   l.Size("PACKYARD_BUF_MAX_FILE_SIZE", 4<<20),
		MaxUploadSize: l.Size("PACKYARD_BUF_MAX_UPLOAD_SIZE", 64<<20),
		MaxFiles:      l.Int("PACKYARD_BUF_MAX_FILES", 10000, 1, 1000000),
		MaxGraphNodes: l.Int("PACKYARD_BUF_MAX_GRAPH_NODES", 5000, 1, 1000000),
		DefaultLabel:  l.String("PACKYARD_BUF_DEFAULT_LABEL", "main"),
	}
	if err := module.ValidateLabelName(c.DefaultLabel); err != nil {
		l.Fail("PACKYARD_BUF_DEFAULT_LABEL", "%v", err)
	}
	if c.MaxUploadSize > 1<<31-1 {
		l.Fail("PACKYARD_BUF_MAX_UPLOAD_SIZE", "must be below 2GiB")
	}
	return c, l.Err()
}

// DefaultConfig is the configuration with every default.
func DefaultConfig() Config {
	c, _ := ConfigFromEnv(config.Map(nil))
	return c
}
