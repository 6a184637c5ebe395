package filesystem

import (
	"os"

	"golang.org/x/sys/unix"
)

// flush makes everything written under the store's root durable, with one
// syncfs of its file system (files is what a portable flush would sync).
func (s *Store) flush(_ []staged) error {
	d, err := os.Open(s.root)
	if err != nil {
		return err
	}
	defer d.Close()
	return unix.Syncfs(int(d.Fd()))
}
