package kernel

import (
	"context"
	"path/filepath"

	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/packyard/packyard/pkg/spool"
)

// provideSpool is the temporary-file service every package spools through
// (uploads, archives, git clones): PACKYARD_DATA_DIR/tmp, mode 0700, capped
// by PACKYARD_TMP_MAX_SIZE. The admin CLI shares it without emptying it.
func provideSpool(c Config) (*spool.Spool, error) {
	return spool.New(filepath.Join(c.DataDir, "tmp"), c.TmpMaxSize)
}

// cleanSpool empties the temporary directory when the daemon starts, before
// the listener opens: what a crashed run left behind is gone.
func cleanSpool(lc fx.Lifecycle, s *spool.Spool, log *zap.Logger) {
	lc.Append(fx.StartHook(func(context.Context) error {
		if err := s.Clean(); err != nil {
			return err
		}
		log.Debug("temporary directory emptied", zap.String("dir", s.Dir()))
		return nil
	}))
}
