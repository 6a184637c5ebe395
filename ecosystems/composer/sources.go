package composer

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"sort"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/packyard/packyard/ecosystems/composer/format"
	"github.com/packyard/packyard/ecosystems/composer/vcs"
	"github.com/packyard/packyard/pkg/audit"
	"github.com/packyard/packyard/pkg/cas"
	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/metadata"
	"github.com/packyard/packyard/pkg/sqldb"
)

// SourceInput registers a git repository.
type SourceInput struct {
	URL           string
	Username      string // for https tokens (default x-access-token) or ssh (default from the URL, else git)
	Token         string // https token
	SSHKey        string // PEM deploy key
	SSHPassphrase string
	KnownHosts    string // known_hosts lines for ssh; empty uses the system's
}

// Source is a registered git repository and its sync status.
type Source struct {
	ID             string      `json:"id"`
	URL            string      `json:"url"`
	CredentialKind string      `json:"credential,omitempty"`
	Package        string      `json:"package,omitempty"`
	DefaultBranch  string      `json:"default_branch,omitempty"`
	Status         string      `json:"status"` // new, ok, error
	LastError      string      `json:"last_error,omitempty"`
	SyncedAt       *time.Time  `json:"synced_at,omitempty"`
	Webhook        bool        `json:"webhook"`
	Refs           []RefStatus `json:"refs,omitempty"`
}

// RefStatus is what a sync made of one git ref.
type RefStatus struct {
	Ref     string `json:"ref"`
	Commit  string `json:"commit,omitempty"`
	Version string `json:"version,omitempty"`
	Warning string `json:"warning,omitempty"`
}

// SyncReport is the outcome of one source's sync.
type SyncReport struct {
	Source   string      `json:"source"`
	Package  string      `json:"package,omitempty"`
	Changed  int         `json:"changed_refs"`
	Removed  int         `json:"removed_refs"`
	Versions int         `json:"versions"`
	Warnings []RefStatus `json:"warnings,omitempty"`
	Error    string      `json:"error,omitempty"`
}

func sealContext(id string) string { return "composer-source:" + id }

// AddSource registers a git repository for an organization and returns it
// with its webhook secret ("" when no PACKYARD_SECRET_KEY is configured, in
// which case webhooks are off for it). It does not sync.
func (s *Service) AddSource(ctx context.Context, orgName string, in SourceInput) (Source, string, error) {
	org, err := s.repo.org(ctx, orgName)
	if err != nil {
		return Source{}, "", err
	}
	in.URL = strings.TrimSpace(in.URL)
	if err := vcs.CheckURL(in.URL); err != nil {
		return Source{}, "", err
	}
	id := metadata.NewID()
	kind := ""
	var plain []byte
	switch {
	case in.Token != "" && in.SSHKey != "":
		return Source{}, "", errs.Invalidf("give either a token or an SSH key, not both")
	case in.Token != "":
		kind = "token"
		plain, _ = json.Marshal(vcs.Creds{Token: in.Token})
	case in.SSHKey != "":
		kind = "ssh"
		plain, _ = json.Marshal(vcs.Creds{SSHKey: in.SSHKey, Passphrase: in.SSHPassphrase})
		if err := (vcs.Creds{Kind: "ssh", SSHKey: in.SSHKey, Passphrase: in.SSHPassphrase}).Check(in.URL); err != nil {
			return Source{}, "", err
		}
	}
	var sealed []byte
	if plain != nil {
		if sealed, err = s.box.Seal(plain, sealContext(id)); err != nil {
			return Source{}, "", err
		}
	}
	var secret string
	var sealedSecret []byte
	if s.box.Enabled() {
		var b [24]byte
		_, _ = rand.Read(b[:])
		secret = hex.EncodeToString(b[:])
		if sealedSecret, err = s.box.Seal([]byte(secret), sealContext(id)+":webhook"); err != nil {
			return Source{}, "", err
		}
	}
	err = s.store.insertSource(ctx, sourceRow{ID: id, OrgID: org.ID, URL: in.URL, Username: in.Username, Kind: kind, Credential: sealed,
		KnownHosts: in.KnownHosts, WebhookSecret: sealedSecret}, micros(s.repo.now()))
	if errors.Is(err, errs.ErrAlreadyExists) {
		return Source{}, "", errs.AlreadyExistsf("%s is already a source of %s", vcs.RedactURL(in.URL), org.Name)
	}
	if err != nil {
		return Source{}, "", err
	}
	s.audit.record(ctx, audit.Event{Action: "composer.source.add", Org: org.Name, Resource: vcs.RedactURL(in.URL),
		Details: map[string]string{"source": id, "credential": kind}})
	return Source{ID: id, URL: in.URL, CredentialKind: kind, Status: "new", Webhook: secret != ""}, secret, nil
}

// RemoveSource unregisters a git repository; the versions it gave leave
// the repository (their archives stay downloadable for lock files).
func (s *Service) RemoveSource(ctx context.Context, orgName, rawURL string) error {
	org, err := s.repo.org(ctx, orgName)
	if err != nil {
		return err
	}
	src, err := s.sourceByURL(ctx, org, rawURL)
	if err != nil {
		return err
	}
	err = s.repo.write(ctx, org, func(tx *sqldb.Tx, touched map[string]string) error {
		pkgs, err := s.store.sourcePackages(ctx, tx, src.ID)
		if err != nil {
			return err
		}
		maps.Copy(touched, pkgs)
		return s.store.deleteSource(ctx, tx, src.ID)
	})
	if err != nil {
		return err
	}
	s.audit.record(ctx, audit.Event{Action: "composer.source.remove", Org: org.Name, Resource: vcs.RedactURL(src.URL),
		Details: map[string]string{"source": src.ID}})
	return nil
}

func (s *Service) sourceByURL(ctx context.Context, org orgRef, rawURL string) (sourceRow, error) {
	src, err := s.store.sourceByURL(ctx, org.ID, strings.TrimSpace(rawURL))
	if errors.Is(err, errs.ErrNotFound) {
		return src, errs.NotFoundf("%s is not a source of %s (see packyard composer list-vcs)", vcs.RedactURL(rawURL), org.Name)
	}
	return src, err
}

func (s *Service) sourceByID(ctx context.Context, id string) (sourceRow, error) {
	src, err := s.store.sourceByID(ctx, id)
	if errors.Is(err, errs.ErrNotFound) {
		return src, errs.NotFoundf("source not found")
	}
	return src, err
}

// Sources lists an organization's git sources with every ref's outcome.
func (s *Service) Sources(ctx context.Context, orgName string) ([]Source, error) {
	org, err := s.repo.org(ctx, orgName)
	if err != nil {
		return nil, err
	}
	raw, err := s.store.sources(ctx, org.ID)
	if err != nil {
		return nil, err
	}
	out := []Source{}
	for _, r := range raw {
		src := Source{ID: r.ID, URL: vcs.RedactURL(r.URL), CredentialKind: r.Kind, Package: r.Package, DefaultBranch: r.DefaultBranch,
			Status: r.Status, LastError: r.LastError, Webhook: len(r.WebhookSecret) > 0}
		if r.SyncedAt.Valid {
			t := fromMicros(r.SyncedAt.Int64)
			src.SyncedAt = &t
		}
		refs, err := s.store.refStatuses(ctx, r.ID)
		if err != nil {
			return nil, err
		}
		if len(refs) > 0 {
			src.Refs = refs
		}
		out = append(out, src)
	}
	return out, nil
}

// Sync syncs every source of an organization, or the one with rawURL. It
// returns a report per source and an error when any sync failed.
func (s *Service) Sync(ctx context.Context, orgName, rawURL string) ([]SyncReport, error) {
	org, err := s.repo.org(ctx, orgName)
	if err != nil {
		return nil, err
	}
	var ids []string
	if rawURL != "" {
		src, err := s.sourceByURL(ctx, org, rawURL)
		if err != nil {
			return nil, err
		}
		ids = []string{src.ID}
	} else if ids, err = s.store.sourceIDs(ctx, org.ID); err != nil {
		return nil, err
	}
	var reports []SyncReport
	var failed []error
	for _, id := range ids {
		s.recordSync(ctx, org.Name, id, "cli")
		rep, err := s.SyncSource(ctx, id)
		reports = append(reports, rep)
		if err != nil {
			failed = append(failed, err)
		}
	}
	return reports, errors.Join(failed...)
}

// SyncOf syncs a source of an organization now, as asked through the API.
func (s *Service) SyncOf(ctx context.Context, orgName, sourceID string) (SyncReport, error) {
	org, err := s.repo.org(ctx, orgName)
	if err != nil {
		return SyncReport{}, err
	}
	src, err := s.sourceByID(ctx, sourceID)
	if err != nil || src.OrgID != org.ID {
		return SyncReport{}, errs.NotFoundf("source not found")
	}
	s.recordSync(ctx, org.Name, src.ID, "api")
	return s.SyncSource(ctx, src.ID)
}

// recordSync records that someone triggered a sync of a source.
func (s *Service) recordSync(ctx context.Context, org, sourceID, trigger string) {
	resource := "source/" + sourceID
	if src, err := s.sourceByID(ctx, sourceID); err == nil {
		resource = vcs.RedactURL(src.URL)
	}
	s.audit.record(ctx, audit.Event{Action: "composer.sync", Org: org, Resource: resource,
		Details: map[string]string{"source": sourceID, "trigger": trigger}})
}

// SyncSource syncs one source, on one replica at a time. Only refs that are
// new or moved since the last sync are read and archived.
func (s *Service) SyncSource(ctx context.Context, id string) (SyncReport, error) {
	return s.syncSource(ctx, id, false)
}

// syncIfStale is SyncSource for the periodic sync: after taking the lock it
// skips a source another replica synced meanwhile.
func (s *Service) syncIfStale(ctx context.Context, id string) (SyncReport, error) {
	return s.syncSource(ctx, id, true)
}

func (s *Service) syncSource(ctx context.Context, id string, onlyStale bool) (SyncReport, error) {
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
	if onlyStale && !s.stale(ctx, id) {
		return SyncReport{}, nil
	}
	src, err := s.sourceByID(ctx, id)
	if err != nil {
		return SyncReport{}, err
	}
	rep, err := s.syncLocked(ctx, src)
	rep.Source = vcs.RedactURL(src.URL)
	if err != nil {
		rep.Error = err.Error()
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

// refResult is what reading one changed ref produced.
type refResult struct {
	storedRef
	dist *cas.Descriptor // a newly built archive
}

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
	remote, err := vcs.ListRefs(ctx, src.URL, creds)
	if err != nil {
		return rep, err
	}
	if len(remote.Refs) == 0 {
		return rep, errs.PreconditionFailedf("the repository has no branches or tags")
	}
	if remote.DefaultBranch == "" {
		return rep, errs.PreconditionFailedf("the repository's default branch cannot be determined")
	}
	refs, err := s.store.refs(ctx, s.store.db, src.ID)
	if err != nil {
		return rep, err
	}
	stored := map[string]storedRef{}
	for _, r := range refs {
		stored[r.Name] = r
	}

	var changed []string
	for name, hash := range remote.Refs {
		if old, ok := stored[name]; !ok || old.Hash != hash {
			changed = append(changed, name)
		}
	}
	var removed []string
	for name := range stored {
		if _, ok := remote.Refs[name]; !ok {
			removed = append(removed, name)
		}
	}
	sort.Strings(changed)
	sort.Strings(removed)
	rep.Changed, rep.Removed = len(changed), len(removed)
	defaultRef := "refs/heads/" + remote.DefaultBranch
	nameKnown := src.Package != "" && src.DefaultBranch == remote.DefaultBranch && stored[defaultRef].Hash == remote.Refs[defaultRef]
	if len(changed) == 0 && len(removed) == 0 && nameKnown {
		rep.Package = src.Package
		return rep, s.store.syncUnchanged(ctx, src.ID, micros(s.repo.now()))
	}

	repo, err := vcs.Open(ctx, src.URL, creds)
	if err != nil {
		return rep, err
	}
	defer repo.Close()

	// The package name comes from the default branch's composer.json.
	name := src.Package
	if !nameKnown {
		c, err := repo.Commit(remote.Refs[defaultRef])
		if err != nil {
			return rep, fmt.Errorf("read default branch %s: %w", remote.DefaultBranch, err)
		}
		raw, err := c.Manifest()
		if err != nil {
			return rep, errs.PreconditionFailedf("default branch %s: %v", remote.DefaultBranch, err)
		}
		if raw == nil {
			return rep, errs.PreconditionFailedf("the default branch %s has no composer.json", remote.DefaultBranch)
		}
		m, err := format.ParseManifest(raw, true)
		if err != nil {
			return rep, errs.PreconditionFailedf("the default branch %s: %v", remote.DefaultBranch, err)
		}
		if src.Package != "" && m.Name != src.Package {
			return rep, errs.PreconditionFailedf("the default branch now names the package %s, not %s; remove the source and add it again to rename", m.Name, src.Package)
		}
		name = m.Name
	}
	rep.Package = name

	pkgID, err := s.store.packageID(ctx, s.store.db, org.ID, name)
	if err != nil && !errors.Is(err, errs.ErrNotFound) {
		return rep, err
	}

	results := make([]refResult, 0, len(changed))
	built := map[string]*cas.Descriptor{} // commit -> archive built in this run
	for _, ref := range changed {
		r, err := s.readRef(ctx, repo, org, name, pkgID, ref, remote.Refs[ref], built)
		if err != nil {
			return rep, err
		}
		results = append(results, r)
	}

	err = s.repo.write(ctx, org, func(tx *sqldb.Tx, touched map[string]string) error {
		id, err := s.repo.ensurePackage(ctx, tx, org, name)
		if err != nil {
			return err
		}
		touched[id] = name
		for _, r := range results {
			if r.dist != nil {
				if err := s.addDist(ctx, tx, id, r.Commit, *r.dist); err != nil {
					return err
				}
			}
			if err := s.store.putRef(ctx, tx, src.ID, r.storedRef); err != nil {
				return err
			}
		}
		for _, ref := range removed {
			if err := s.store.deleteRef(ctx, tx, src.ID, ref); err != nil {
				return err
			}
		}
		n, warnings, err := s.assignVersions(ctx, tx, src.ID, id, defaultRef)
		if err != nil {
			return err
		}
		rep.Versions, rep.Warnings = n, warnings
		return s.store.syncDone(ctx, tx, src.ID, name, remote.DefaultBranch, micros(s.repo.now()))
	})
	return rep, err
}

// readRef reads one new or moved ref: its version (or the reason it is
// skipped), its composer.json, and its archive (built unless the package
// already has one for the commit).
func (s *Service) readRef(ctx context.Context, repo *vcs.Repo, org orgRef, name, pkgID, ref, hash string, built map[string]*cas.Descriptor) (refResult, error) {
	r := refResult{storedRef: storedRef{Name: ref, Hash: hash}}
	warn := func(format string, args ...any) (refResult, error) {
		r.Warning = fmt.Sprintf(format, args...)
		return r, nil
	}
	c, err := repo.Commit(hash)
	if err != nil {
		return warn("cannot read the commit: %v", err)
	}
	r.Commit = c.Hash
	raw, err := c.Manifest()
	if err != nil {
		return warn("composer.json cannot be read: %v", err)
	}
	if raw == nil {
		return warn("skipped: no composer.json")
	}
	m, err := format.ParseManifest(raw, false)
	if err != nil {
		return warn("skipped: %v", err)
	}
	var normalized, pretty string
	if tag, ok := strings.CutPrefix(ref, "refs/tags/"); ok {
		normalized, pretty, err = format.TagVersion(tag, m.Version)
	} else {
		normalized, pretty, err = format.BranchVersion(strings.TrimPrefix(ref, "refs/heads/"))
	}
	if err != nil {
		return warn("%s", errs.PublicMessage(err))
	}
	r.Normalized, r.Version = normalized, pretty

	sha := ""
	if d, ok := built[r.Commit]; ok {
		sha = d.Extra[cas.SHA1]
		r.dist = d
	} else if pkgID != "" {
		existing, ok, err := s.store.dist(ctx, pkgID, r.Commit)
		if err != nil {
			return r, err
		}
		if ok {
			sha = existing.SHA1
		}
	}
	if sha == "" {
		d, err := s.buildDist(ctx, c, name)
		if err != nil {
			return r, fmt.Errorf("archive %s at %s: %w", ref, r.Commit, err)
		}
		built[r.Commit] = &d
		r.dist = &d
		sha = d.Extra[cas.SHA1]
	}
	entry := format.Entry(org.Name, m, name, pretty, normalized, r.Commit, sha, c.When)
	b, _ := json.Marshal(entry)
	r.Entry = string(b)
	return r, nil
}

// buildDist stores the zip of a commit in the CAS, streamed.
func (s *Service) buildDist(ctx context.Context, c vcs.Commit, name string) (cas.Descriptor, error) {
	files, err := c.Files()
	if err != nil {
		return cas.Descriptor{}, err
	}
	vendor, pkg, _ := strings.Cut(name, "/")
	prefix := fmt.Sprintf("%s-%s-%s/", vendor, pkg, c.Hash[:7])
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(format.BuildZip(pw, prefix, c.When, files)) }()
	opts := []cas.PutOption{cas.WithDigests(cas.SHA1)}
	if s.cfg.MaxDistSize > 0 {
		opts = append(opts, cas.WithMaxSize(s.cfg.MaxDistSize))
	}
	d, err := s.cas.Put(ctx, pr, opts...)
	pr.CloseWithError(io.ErrClosedPipe)
	return d, err
}

// assignVersions makes the source's versions match its refs: tags in name
// order (the first of two tags with one version wins), then branches, the
// default branch marked default-branch. A version another source or an
// upload already holds is skipped with a warning.
func (s *Service) assignVersions(ctx context.Context, tx *sqldb.Tx, sourceID, pkgID, defaultRef string) (int, []RefStatus, error) {
	refs, err := s.store.refs(ctx, tx, sourceID)
	if err != nil {
		return 0, nil, err
	}
	sort.SliceStable(refs, func(i, j int) bool {
		ti, tj := strings.HasPrefix(refs[i].Name, "refs/tags/"), strings.HasPrefix(refs[j].Name, "refs/tags/")
		if ti != tj {
			return ti
		}
		return refs[i].Name < refs[j].Name
	})
	type want struct {
		ref   storedRef
		entry string
	}
	desired := map[string]want{}
	var order []string
	var warnings []RefStatus
	setWarning := func(r storedRef, w string) error {
		warnings = append(warnings, RefStatus{Ref: r.Name, Commit: r.Commit, Warning: w})
		if w == r.Warning {
			return nil
		}
		return s.store.setRefWarning(ctx, tx, sourceID, r.Name, w)
	}
	// Versions held by uploads or other sources.
	taken := map[string]bool{}
	others, err := s.store.otherVersions(ctx, tx, pkgID, sourceID)
	if err != nil {
		return 0, nil, err
	}
	for _, n := range others {
		taken[n] = true
	}
	for _, r := range refs {
		if r.Normalized == "" {
			if err := setWarning(r, r.Warning); err != nil {
				return 0, nil, err
			}
			continue
		}
		w := ""
		switch {
		case taken[r.Normalized]:
			w = fmt.Sprintf("skipped: version %s already exists from another source or an upload", r.Version)
		case desired[r.Normalized].ref.Name != "":
			w = fmt.Sprintf("skipped: version %s already exists (%s)", r.Version, desired[r.Normalized].ref.Name)
		}
		if w != "" {
			if err := setWarning(r, w); err != nil {
				return 0, nil, err
			}
			continue
		}
		if r.Warning != "" {
			if err := s.store.setRefWarning(ctx, tx, sourceID, r.Name, ""); err != nil {
				return 0, nil, err
			}
		}
		entry := r.Entry
		if r.Name == defaultRef {
			o, err := format.ParseObject([]byte(entry))
			if err != nil {
				return 0, nil, err
			}
			b, _ := json.Marshal(o.With("default-branch", json.RawMessage("true")))
			entry = string(b)
		}
		desired[r.Normalized] = want{ref: r, entry: entry}
		order = append(order, r.Normalized)
	}
	// Apply the difference.
	current, err := s.store.sourceVersions(ctx, tx, sourceID)
	if err != nil {
		return 0, nil, err
	}
	for n := range current {
		if _, ok := desired[n]; !ok {
			if err := s.store.deleteVersion(ctx, tx, pkgID, n); err != nil {
				return 0, nil, err
			}
		}
	}
	now := micros(s.repo.now())
	for _, n := range order {
		w := desired[n]
		if cur, ok := current[n]; ok {
			if cur.Entry == w.entry && cur.Reference == w.ref.Commit {
				continue
			}
			if err := s.store.updateVersion(ctx, tx, pkgID, versionRow{Normalized: n, Version: w.ref.Version, Reference: w.ref.Commit,
				RefName: w.ref.Name, Entry: w.entry}); err != nil {
				return 0, nil, err
			}
			continue
		}
		if err := s.store.insertVersion(ctx, tx, pkgID, sourceID, versionRow{Normalized: n, Version: w.ref.Version, Reference: w.ref.Commit,
			RefName: w.ref.Name, Entry: w.entry}, now); err != nil {
			return 0, nil, err
		}
	}
	return len(order), warnings, nil
}
