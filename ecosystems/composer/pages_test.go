package composer

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPackagePages(t *testing.T) {
	backends(t, func(t *testing.T, pg bool) {
		s := newStack(t, stackOpts{postgres: pg})
		s.org("acme")
		ctx := t.Context()
		manifest := `{"name":"acme/util","description":"Utilities","license":"MIT",
			"authors":[{"name":"Ann","email":"ann@example.com"}],
			"require":{"php":">=8.1","psr/log":"^3.0"},"require-dev":{"phpunit/phpunit":"^11"},
			"suggest":{"ext-intl":"for locales"},"provide":{"psr/log-implementation":"3.0"},
			"conflict":{"acme/old":"<1.0"},"replace":{"acme/legacy":"self.version"},
			"autoload":{"psr-4":{"Acme\\Util\\":"src/"}}}`
		for _, v := range []string{"1.0.0", "1.1.0", "2.0.0-beta1", "dev-main"} {
			readme := "# util " + v + "\n<script>alert(1)</script>\n"
			_, err := s.svc.Upload(ctx, "acme", v, bytes.NewReader(makeZip(t,
				zf{name: "composer.json", body: manifest}, zf{name: "README.md", body: readme})))
			require.NoError(t, err)
		}
		require.NoError(t, publishVersion(t, s, "acme", "acme/other", "0.1.0"))
		_, err := s.proxy.AddAdvisory(ctx, "acme", AdvisoryInput{Package: "acme/util", Versions: "<1.1", Title: "Bad thing"})
		require.NoError(t, err)
		require.NoError(t, s.svc.RecordDownloads(ctx, "acme", []Download{
			{Name: "acme/util", Version: "1.1.0.0"}, {Name: "acme/util", Version: "1.1.0.0"}, {Name: "acme/util", Version: "1.0.0.0"},
			{Name: "acme/util", Version: "9.9.9.9"}, // unknown: ignored
		}))

		page, err := s.svc.SearchPackages(ctx, "acme", "", 0, 1)
		require.NoError(t, err)
		require.Equal(t, 2, page.Total)
		require.Len(t, page.Packages, 1)
		require.Equal(t, "acme/other", page.Packages[0].Name)
		page, err = s.svc.SearchPackages(ctx, "acme", "UTIL", 0, 50)
		require.NoError(t, err)
		require.Equal(t, 1, page.Total)
		require.Equal(t, PackageSummary{Name: "acme/util", Description: "Utilities", Versions: 4, Downloads: 3, Updated: page.Packages[0].Updated},
			page.Packages[0])
		page, err = s.svc.SearchPackages(ctx, "acme", "50%_", 0, 50)
		require.NoError(t, err)
		require.Zero(t, page.Total)
		n, err := s.svc.CountPackages(ctx, "acme")
		require.NoError(t, err)
		require.Equal(t, 2, n)

		d, err := s.svc.Package(ctx, "acme", "Acme/Util")
		require.NoError(t, err)
		require.Equal(t, "Utilities", d.Description)
		var names []string
		for _, v := range d.Versions {
			names = append(names, v.Version)
		}
		require.Equal(t, []string{"2.0.0-beta1", "1.1.0", "1.0.0", "dev-main"}, names)
		require.Len(t, d.Stable(), 3)
		require.Len(t, d.Dev(), 1)
		v := d.Versions[2] // 1.0.0
		require.Equal(t, int64(1), v.Downloads)
		require.True(t, v.DistStored)
		require.Len(t, v.SHA1, 40)
		require.Positive(t, v.Size)
		require.Equal(t, "upload", v.Source)
		require.Equal(t, []Link{{"php", ">=8.1"}, {"psr/log", "^3.0"}}, v.Require)
		require.Equal(t, []Link{{"phpunit/phpunit", "^11"}}, v.RequireDev)
		require.Equal(t, []Link{{"ext-intl", "for locales"}}, v.Suggest)
		require.Equal(t, []Link{{"psr/log-implementation", "3.0"}}, v.Provide)
		require.Equal(t, []Link{{"acme/old", "<1.0"}}, v.Conflict)
		require.Equal(t, []Link{{"acme/legacy", "self.version"}}, v.Replace)
		require.Contains(t, v.Autoload, `"Acme\\Util\\": "src/"`)
		require.Equal(t, []string{"MIT"}, v.License)
		require.Equal(t, []Author{{Name: "Ann", Email: "ann@example.com"}}, v.Authors)
		require.NotNil(t, v.Released)
		require.Len(t, v.Advisories, 1, "<1.1 affects 1.0.0")
		require.Empty(t, d.Versions[1].Advisories, "<1.1 does not affect 1.1.0")

		require.Len(t, d.Days, chartDays)
		require.Equal(t, int64(3), d.Days[chartDays-1].Count, "today's installs")
		require.Zero(t, d.Days[0].Count)

		md, err := s.svc.Readme(ctx, v)
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(string(md), "# util 1.0.0\n"), string(md))
		md, err = s.svc.Readme(ctx, v) // from the cache
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(string(md), "# util 1.0.0\n"), string(md))

		other, err := s.svc.Package(ctx, "acme", "acme/other")
		require.NoError(t, err)
		md, err = s.svc.Readme(ctx, other.Versions[0])
		require.NoError(t, err)
		require.Nil(t, md, "no README in the archive")

		_, err = s.svc.Package(ctx, "acme", "acme/missing")
		require.Error(t, err)
	})
}
