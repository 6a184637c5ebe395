package module

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPushGraphClosure(t *testing.T) {
	// Stored: app1 -> lib1 -> base1, and lib2 -> base2. Commits are named
	// after their module and a version; moduleOf knows them all.
	stored := func(use map[string]string) *PushGraph {
		moduleOf := map[string]string{}
		for _, c := range []string{"app1", "lib1", "lib2", "base1", "base2"} {
			moduleOf[c] = c[:len(c)-1]
		}
		return NewPushGraph(map[string][]string{"app1": {"lib1"}, "lib1": {"base1"}, "lib2": {"base2"}}, moduleOf, use)
	}

	t.Run("stored edges, breadth first, each commit once", func(t *testing.T) {
		g := stored(map[string]string{})
		require.Equal(t, []string{"app1", "lib1", "base1"}, g.Closure([]string{"app1", "", "app1"}))
		require.Empty(t, g.Closure(nil))
	})

	t.Run("a module is used at the commit the upload offers", func(t *testing.T) {
		g := stored(map[string]string{"base": "base2"})
		require.Equal(t, []string{"app1", "lib1", "base2"}, g.Closure([]string{"app1"}))
	})

	t.Run("pushed commits lead to their recorded dependencies", func(t *testing.T) {
		g := stored(map[string]string{"lib": "lib2"})
		g.Push("base3", "base", nil)
		// A pushed commit of base replaces base in every stored edge.
		require.Equal(t, []string{"lib2", "base3"}, g.Closure([]string{"lib2"}))
		// A pushed commit of app over lib2: its recorded edges, not stored ones.
		g.Push("app2", "app", []string{"lib2"})
		require.Equal(t, []string{"app2", "lib2", "base3"}, g.Closure([]string{"app2"}))
		// The stored app1 now reaches lib2 (the used commit of lib), and base3.
		require.Equal(t, []string{"app1", "lib2", "base3"}, g.Closure([]string{"app1"}))
	})

	t.Run("diamond", func(t *testing.T) {
		g := NewPushGraph(nil, nil, nil)
		g.Push("base1", "base", nil)
		g.Push("left1", "left", []string{"base1"})
		g.Push("right1", "right", []string{"base1"})
		require.Equal(t, []string{"left1", "right1", "base1"}, g.Closure([]string{"left1", "right1"}))
	})
}
