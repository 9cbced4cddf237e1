// Command diktyo-hook is diktyo's Ganeti hook: linked into Ganeti's hook
// directories (diktyo-hook install) it keeps the pool and every node's
// host state in step with Ganeti's operations. See pkg/hook.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/diktyo/diktyo/pkg/announce"
	"github.com/diktyo/diktyo/pkg/hook"
	"github.com/diktyo/diktyo/pkg/version"
)

func main() {
	if len(os.Args) == 2 && os.Args[1] == "--version" {
		fmt.Println("diktyo-hook version " + version.Version)
		return
	}
	if len(os.Args) > 1 && os.Args[1] == announce.Subcommand {
		// The detached announcer that re-announcing NICs spawns (this very
		// binary, see announce.Command).
		if err := announce.Run(os.Args[2:]); err != nil {
			os.Exit(1)
		}
		return
	}
	os.Exit(hook.Main(context.Background(), os.Args, os.Environ(), os.Stdout, os.Stderr))
}
