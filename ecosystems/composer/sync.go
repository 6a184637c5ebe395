package composer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/packyard/packyard/ecosystems/composer/format"
	"github.com/packyard/packyard/ecosystems/composer/vcs"
	"github.com/packyard/packyard/pkg/cas"
	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/sqldb"
)

// SyncSource syncs one source, on one replica at a time. Only refs that are
// new or moved since the last sync are read and archived.
func (s *Service) SyncSource(ctx context.Context, id string) (SyncReport, error) {
	if s.cfg.SyncTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.cfg.SyncTimeout)
		defer cancel()
	}
	unlock, err := s.locker.Lock(ctx, "composer:sync:"+id, s.cfg.SyncTimeout+time.Minute)
	if err != nil {
		return SyncReport{}, fmt.Errorf("wait for the sync lock: %w", err)
	}
	defer unlock()
	src, err := s.sourceByID(ctx, id)
	if err != nil {
		return SyncReport{}, err
	}
	start := time.Now()
	rep, err := s.syncLocked(ctx, src)
	rep.Source = vcs.RedactURL(src.URL)
	if derr := s.store.setSyncDuration(context.WithoutCancel(ctx), id, time.Since(start).Milliseconds()); derr != nil {
		s.log.Warn("recording a sync's duration failed", zap.Error(derr))
	}
	if err != nil {
		rep.Error = errs.PublicMessage(err)
		if uerr := s.store.syncFailed(context.WithoutCancel(ctx), id, errs.PublicMessage(err), micros(s.repo.now())); uerr != nil {
			s.log.Warn("recording a sync failure failed", zap.Error(uerr))
		}
		s.log.Warn("sync failed", zap.String("source", vcs.RedactURL(src.URL)), zap.Error(err))
		return rep, fmt.Errorf("sync %s: %w", vcs.RedactURL(src.URL), err)
	}
	s.log.Info("sync done", zap.String("source", vcs.RedactURL(src.URL)), zap.String("package", rep.Package),
		zap.Int("changed_refs", rep.Changed), zap.Int("removed_refs", rep.Removed), zap.Int("warnings", len(rep.Warnings)))
	return rep, nil
}

func (s *Service) creds(src sourceRow) (vcs.Creds, error) {
	c := vcs.Creds{Kind: src.Kind, Username: src.Username, KnownHosts: src.KnownHosts}
	if src.Kind == "" {
		return c, nil
	}
	plain, err := s.box.Open(src.Credential, sealContext(src.ID))
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(plain, &c); err != nil {
		return c, fmt.Errorf("stored credential: %w", err)
	}
	c.Kind, c.Username, c.KnownHosts = src.Kind, src.Username, src.KnownHosts
	return c, nil
}

// syncLocked syncs a source under its lock, in phases: read the
// repository's refs and compare them with the stored ones (diffRefs); read
// the new and moved refs from git, archiving their commits (readRefs);
// then, in one transaction, store the refs and make the source's versions
// match them (planVersions, applyVersions).
func (s *Service) syncLocked(ctx context.Context, src sourceRow) (SyncReport, error) {
	var rep SyncReport
	org, err := s.repo.orgByID(ctx, src.OrgID)
	if err != nil {
		return rep, err
	}
	creds, err := s.creds(src)
	if err != nil {
		return rep, err
	}
	remote, err := listRefs(ctx, src.URL, creds, s.net)
	if err != nil {
		return rep, err
	}
	stored, err := s.store.refs(ctx, s.store.db, src.ID)
	if err != nil {
		return rep, err
	}
	changes := diffRefs(src, remote, stored)
	rep.Changed, rep.Removed = len(changes.changed), len(changes.removed)
	if changes.upToDate() {
		rep.Package = src.Package
		return rep, s.store.syncUnchanged(ctx, src.ID, micros(s.repo.now()))
	}
	repo, stats, err := s.mirrors.of(src.ID).Update(ctx, src.URL, creds, s.net)
	if err != nil {
		return rep, err
	}
	defer repo.Close()
	s.log.Debug("sync: fetched", zap.String("source", vcs.RedactURL(src.URL)), zap.Int("wants", stats.Wants), zap.Int64("pack_bytes", stats.PackBytes))
	rep.Package = src.Package
	if !changes.nameKnown {
		if rep.Package, err = packageName(repo, remote, src.Package); err != nil {
			return rep, err
		}
	}
	results, err := s.readRefs(ctx, repo, org, rep.Package, changes.changed, remote.Refs)
	if err != nil {
		return rep, err
	}
	rep.Versions, rep.Warnings, err = s.writeSync(ctx, org, src.ID, rep.Package, remote.DefaultBranch, changes, results)
	return rep, err
}

// listRefs lists a repository's refs; one without branches or a default
// branch cannot be synced.
func listRefs(ctx context.Context, rawURL string, creds vcs.Creds, n vcs.Network) (vcs.Refs, error) {
	remote, err := vcs.ListRefs(ctx, rawURL, creds, n)
	if err != nil {
		return remote, err
	}
	if len(remote.Refs) == 0 {
		return remote, errs.PreconditionFailedf("the repository has no branches or tags")
	}
	if remote.DefaultBranch == "" {
		return remote, errs.PreconditionFailedf("the repository's default branch cannot be determined")
	}
	return remote, nil
}

// packageName reads the package name from the default branch's
// composer.json; a source keeps the name it was first synced with.
func packageName(repo *vcs.Repo, remote vcs.Refs, known string) (string, error) {
	c, err := repo.Commit(remote.Refs["refs/heads/"+remote.DefaultBranch])
	if err != nil {
		return "", fmt.Errorf("read default branch %s: %w", remote.DefaultBranch, err)
	}
	raw, err := c.Manifest()
	if err != nil {
		return "", errs.Wrap(errs.ErrFailedPrecondition, fmt.Sprintf("default branch %s: %s", remote.DefaultBranch, errs.Message(err, "composer.json cannot be read")), err)
	}
	if raw == nil {
		return "", errs.PreconditionFailedf("the default branch %s has no composer.json", remote.DefaultBranch)
	}
	m, err := format.ParseManifest(raw, true)
	if err != nil {
		return "", errs.Wrap(errs.ErrFailedPrecondition, fmt.Sprintf("the default branch %s: %s", remote.DefaultBranch, errs.PublicMessage(err)), err)
	}
	if known != "" && m.Name != known {
		return "", errs.PreconditionFailedf("the default branch now names the package %s, not %s; remove the source and add it again to rename", m.Name, known)
	}
	return m.Name, nil
}

// refResult is what reading one changed ref produced.
type refResult struct {
	storedRef
	dist *cas.Descriptor // a newly built archive
}

// readRefs reads the changed refs of a package's repository; a commit is
// archived once per run, and not at all when the package has its archive.
func (s *Service) readRefs(ctx context.Context, repo *vcs.Repo, org orgRef, name string, changed []string, hashes map[string]string) ([]refResult, error) {
	pkgID, err := s.store.packageID(ctx, s.store.db, org.ID, name)
	if err != nil && !errors.Is(err, errs.ErrNotFound) {
		return nil, err
	}
	results := make([]refResult, 0, len(changed))
	built := map[string]*cas.Descriptor{} // commit -> archive built in this run
	var batch distBatch
	for _, ref := range changed {
		r, err := s.readRef(ctx, repo, org, name, pkgID, ref, hashes[ref], built, &batch)
		if err != nil {
			return nil, err
		}
		results = append(results, r)
	}
	return results, s.storeDists(ctx, &batch)
}

// readRef reads one new or moved ref: its version (or the reason it is
// skipped), its composer.json, and its archive.
func (s *Service) readRef(ctx context.Context, repo *vcs.Repo, org orgRef, name, pkgID, ref, hash string, built map[string]*cas.Descriptor, batch *distBatch) (refResult, error) {
	r := refResult{storedRef: storedRef{Name: ref, Hash: hash}}
	c, err := repo.Commit(hash)
	if err != nil {
		r.Warning = "the commit cannot be read"
		s.log.Warn("sync: a commit cannot be read", zap.String("ref", ref), zap.Error(err))
		return r, nil
	}
	r.Commit = c.Hash
	raw, err := c.Manifest()
	if err != nil {
		r.Warning = "composer.json cannot be read"
		s.log.Warn("sync: composer.json cannot be read", zap.String("ref", ref), zap.Error(err))
		return r, nil
	}
	m, normalized, pretty, warning := refVersion(ref, raw)
	if warning != "" {
		r.Warning = warning
		return r, nil
	}
	r.Normalized, r.Version = normalized, pretty
	sha, err := s.archive(ctx, c, name, pkgID, built, batch, &r)
	if err != nil {
		return r, err
	}
	b, _ := json.Marshal(format.Entry(org.Name, m, name, pretty, normalized, r.Commit, sha, c.When))
	r.Entry = string(b)
	return r, nil
}

// archive returns the sha1 of a commit's archive: one built earlier in
// this run, the package's existing one (never replaced, so its shasum
// never changes), or a new one (kept in r.dist; complete once the batch
// is stored).
func (s *Service) archive(ctx context.Context, c vcs.Commit, name, pkgID string, built map[string]*cas.Descriptor, batch *distBatch, r *refResult) (string, error) {
	if d, ok := built[c.Hash]; ok {
		r.dist = d
		return d.Extra[cas.SHA1], nil
	}
	if pkgID != "" {
		existing, ok, err := s.store.dist(ctx, pkgID, c.Hash)
		if err != nil || ok {
			return existing.SHA1, err
		}
	}
	d, err := s.buildDist(ctx, c, name, batch)
	if err != nil {
		return "", fmt.Errorf("archive %s at %s: %w", r.Name, c.Hash, err)
	}
	built[c.Hash], r.dist = d, d
	return d.Extra[cas.SHA1], nil
}

// writeSync stores what a sync read, in one transaction of the
// organization's repository: the new archives, the changed and removed
// refs, the source's versions as planVersions decides them, and the
// source's status. It returns the number of versions and the warnings.
func (s *Service) writeSync(ctx context.Context, org orgRef, sourceID, name, defaultBranch string, changes refChanges, results []refResult) (int, []RefStatus, error) {
	var plan versionPlan
	mark, next, err := s.predictSync(ctx, sourceID, changes, results)
	if err != nil {
		return 0, nil, err
	}
	err = s.repo.write(ctx, org, map[string]predict{name: next}, func(tx *sqldb.Tx, touched map[string]string) error {
		id, err := s.repo.ensurePackage(ctx, tx, org, name)
		if err != nil {
			return err
		}
		touched[id] = name
		if err := s.storeRefs(ctx, tx, sourceID, id, results, changes.removed); err != nil {
			return err
		}
		refs, err := s.store.refs(ctx, tx, sourceID)
		if err != nil {
			return err
		}
		taken, err := s.store.otherVersions(ctx, tx, id, sourceID)
		if err != nil {
			return err
		}
		current, err := s.store.sourceVersions(ctx, tx, sourceID)
		if err != nil {
			return err
		}
		if plan, err = planVersions(refs, taken, current, changes.defaultRef, mark); err != nil {
			return err
		}
		if err := s.applyVersions(ctx, tx, sourceID, id, plan); err != nil {
			return err
		}
		return s.store.syncDone(ctx, tx, sourceID, name, defaultBranch, micros(s.repo.now()))
	})
	return len(plan.versions), plan.warnings, err
}

// predictSync plans, before the write transaction (which must not parse),
// what the sync will make of the source's versions, from the refs as they
// will be stored (the sync lock keeps the source's refs as they are): the
// marker of the default branch's entry, which knows that entry only, and
// the prediction of the package's versions for repository.write.
func (s *Service) predictSync(ctx context.Context, sourceID string, changes refChanges, results []refResult) (func(string) (string, error), predict, error) {
	stored, err := s.store.refs(ctx, s.store.db, sourceID)
	if err != nil {
		return nil, nil, err
	}
	current, err := s.store.sourceVersions(ctx, s.store.db, sourceID)
	if err != nil {
		return nil, nil, err
	}
	byName := make(map[string]storedRef, len(stored)+len(results))
	for _, r := range stored {
		byName[r.Name] = r
	}
	for _, r := range results {
		byName[r.Name] = r.storedRef
	}
	for _, name := range changes.removed {
		delete(byName, name)
	}
	entry := byName[changes.defaultRef].Entry
	var marked string
	if entry != "" {
		if marked, err = markDefaultBranch(entry); err != nil {
			return nil, nil, err
		}
	}
	mark := func(e string) (string, error) {
		if e != entry || entry == "" {
			return "", errors.New("the default branch's entry changed during the sync")
		}
		return marked, nil
	}
	refs := slices.Collect(maps.Values(byName))
	next := func(all []versionRow) []versionRow {
		var others []versionRow
		var taken []string
		for _, v := range all {
			if _, ours := current[v.Version]; !ours {
				others, taken = append(others, v), append(taken, v.Normalized)
			}
		}
		plan, err := planVersions(refs, taken, current, changes.defaultRef, mark)
		if err != nil {
			return nil // a wrong prediction only costs an attempt; the transaction's plan decides
		}
		return append(others, plan.versions...)
	}
	return mark, next, nil
}

// storeRefs records the refs read (and the archives built for them) and
// forgets the removed ones.
func (s *Service) storeRefs(ctx context.Context, tx *sqldb.Tx, sourceID, pkgID string, results []refResult, removed []string) error {
	for _, r := range results {
		if r.dist != nil {
			if err := s.addDist(ctx, tx, pkgID, r.Commit, *r.dist); err != nil {
				return err
			}
		}
		if err := s.store.putRef(ctx, tx, sourceID, r.storedRef); err != nil {
			return err
		}
	}
	for _, ref := range removed {
		if err := s.store.deleteRef(ctx, tx, sourceID, ref); err != nil {
			return err
		}
	}
	return nil
}

// applyVersions writes a version plan.
func (s *Service) applyVersions(ctx context.Context, tx *sqldb.Tx, sourceID, pkgID string, p versionPlan) error {
	for _, w := range p.warn {
		if err := s.store.setRefWarning(ctx, tx, sourceID, w.ref, w.warning); err != nil {
			return err
		}
	}
	for _, n := range p.remove {
		if err := s.store.deleteVersion(ctx, tx, pkgID, n); err != nil {
			return err
		}
	}
	for _, v := range p.update {
		if err := s.store.updateVersion(ctx, tx, pkgID, v); err != nil {
			return err
		}
	}
	now := micros(s.repo.now())
	for _, v := range p.insert {
		if err := s.store.insertVersion(ctx, tx, pkgID, sourceID, v, now); err != nil {
			return err
		}
	}
	return nil
}
