package plugin

import (
	"path/filepath"
	"time"

	"github.com/packyard/packyard/pkg/config"
)

// Config is the plugin sandbox's configuration (PACKYARD_BUF_PLUGIN_*).
type Config struct {
	// MemoryLimit caps one run's linear memory (PACKYARD_BUF_PLUGIN_MEMORY_LIMIT, default 512MiB).
	MemoryLimit int64
	// Timeout caps one run's wall time (PACKYARD_BUF_PLUGIN_TIMEOUT, default 2m).
	Timeout time.Duration
	// Parallelism bounds the runs in progress at once on a replica
	// (PACKYARD_BUF_PLUGIN_PARALLELISM, default 4); further runs wait.
	Parallelism int
	// MaxSize caps a plugin's module (PACKYARD_BUF_PLUGIN_MAX_SIZE, default 64MiB).
	MaxSize int64
	// MaxOutput caps what one run writes to standard output, its encoded
	// CodeGeneratorResponse (PACKYARD_BUF_PLUGIN_MAX_OUTPUT, default 128MiB).
	MaxOutput int64
	// CacheDir holds compiled modules across restarts: wazero's compilation
	// cache under the data directory (PACKYARD_DATA_DIR/plugin-cache).
	CacheDir string
}

// ConfigFromEnv reads the PACKYARD_BUF_PLUGIN_* variables.
func ConfigFromEnv(env config.Env) (Config, error) {
	l := config.NewLoader(env)
	c := Config{
		MemoryLimit: l.Size("PACKYARD_BUF_PLUGIN_MEMORY_LIMIT", 512<<20),
		Timeout:     l.Duration("PACKYARD_BUF_PLUGIN_TIMEOUT", 2*time.Minute),
		Parallelism: l.Int("PACKYARD_BUF_PLUGIN_PARALLELISM", 4, 1, 1024),
		MaxSize:     l.Size("PACKYARD_BUF_PLUGIN_MAX_SIZE", 64<<20),
		MaxOutput:   l.Size("PACKYARD_BUF_PLUGIN_MAX_OUTPUT", 128<<20),
		CacheDir:    filepath.Join(l.String("PACKYARD_DATA_DIR", "./data"), "plugin-cache"),
	}
	if c.MemoryLimit < 16<<20 || c.MemoryLimit > 4<<30 {
		l.Fail("PACKYARD_BUF_PLUGIN_MEMORY_LIMIT", "must be between 16MiB and 4GiB (WebAssembly's 32-bit address space)")
	}
	if c.MaxOutput > 1<<31-1 {
		l.Fail("PACKYARD_BUF_PLUGIN_MAX_OUTPUT", "must be below 2GiB")
	}
	if c.MaxSize > 1<<30 {
		l.Fail("PACKYARD_BUF_PLUGIN_MAX_SIZE", "must be at most 1GiB")
	}
	return c, l.Err()
}

// DefaultConfig is the configuration with every default (and no cache directory).
func DefaultConfig() Config {
	c, _ := ConfigFromEnv(config.Map(nil))
	c.CacheDir = ""
	return c
}
