package buf

import (
	"context"

	"github.com/packyard/packyard/pkg/cas"
	"github.com/packyard/packyard/pkg/sqldb"
)

// ownerless is the periodic collection's sweeper of the modules whose
// owner was deleted (deleting an organization removes its rows in the
// kernel's tables only).
type ownerless struct{ s *Service }

// refSweeper provides the buf ecosystem's cas.RefSweeper.
func refSweeper(s *Service) cas.RefSweeper { return ownerless{s} }

// SweepRefs deletes the modules whose owner was deleted, with their
// commits, labels and the CAS references of their files, and returns how
// many it deleted. A module that another module's commit still depends on
// stays, with its files, as long as that module does; one that depends on
// such a module goes first, so one sweep deletes a chain of them.
func (o ownerless) SweepRefs(ctx context.Context) (int64, error) {
	ids, err := o.s.st.ownerless(ctx)
	if err != nil {
		return 0, err
	}
	var deleted int64
	for progress := true; progress; {
		progress = false
		kept := ids[:0]
		for _, id := range ids {
			deps, err := o.s.st.dependents(ctx, id, 1)
			if err != nil {
				return deleted, err
			}
			if len(deps) > 0 {
				kept = append(kept, id)
				continue
			}
			err = o.s.st.db.InTx(ctx, func(tx *sqldb.Tx) error {
				if err := o.s.removeModule(ctx, tx, id); err != nil {
					return err
				}
				return o.s.changed(ctx, tx)
			})
			if err != nil {
				return deleted, err
			}
			deleted, progress = deleted+1, true
		}
		ids = kept
	}
	return deleted, nil
}
