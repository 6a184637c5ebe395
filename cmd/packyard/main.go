// Command packyard is the private package registry daemon for Composer and
// the buf CLI, and its admin CLI. Configuration comes from PACKYARD_*
// environment variables only; see the README's configuration table.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"os/user"
	"syscall"

	"github.com/packyard/packyard/pkg/audit"
	"github.com/packyard/packyard/pkg/config"
	"github.com/packyard/packyard/pkg/errs"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	code := run(ctx, os.Args[1:], config.OS(), os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes the CLI and returns the exit code.
func run(ctx context.Context, args []string, env config.Env, stdout, stderr io.Writer) int {
	root := newRoot(env, stdout, stderr)
	root.SetArgs(args)
	// What the admin CLI changes is recorded in the audit log as done by
	// the operating-system user who ran it.
	ctx = audit.WithActor(ctx, cliActor())
	if err := root.ExecuteContext(ctx); err != nil {
		var ee exitError
		if errors.As(err, &ee) {
			return ee.code
		}
		fmt.Fprintln(stderr, "packyard:", errs.Detail(err)) // the operator sees the causes clients do not
		return 1
	}
	return 0
}

func cliActor() audit.Actor {
	a := audit.Actor{Method: "cli"}
	if u, err := user.Current(); err == nil {
		a.User = u.Username
	}
	return a
}

type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }
