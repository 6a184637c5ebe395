//go:build !linux

package filesystem

import (
	"os"
	"path/filepath"
)

// flush makes the batch's files and their directories durable, one by one.
func (s *Store) flush(files []staged) error {
	dirs := map[string]bool{}
	for _, f := range files {
		if err := syncPath(f.tmp, f.path); err != nil {
			return err
		}
		dirs[filepath.Dir(f.path)] = true
	}
	for d := range dirs {
		if err := syncDir(d); err != nil {
			return err
		}
	}
	return nil
}

// syncPath syncs the file at tmp, or at path once renamed.
func syncPath(tmp, path string) error {
	f, err := os.Open(tmp)
	if os.IsNotExist(err) {
		f, err = os.Open(path)
	}
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
