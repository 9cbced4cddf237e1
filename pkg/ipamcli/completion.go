package ipamcli

import (
	"fmt"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/diktyo/diktyo/pkg/ipam"
	"github.com/diktyo/diktyo/pkg/ipam/storeurl"
)

// completionFlag is the flag urfave/cli appends when a shell asks for
// completions.
const completionFlag = "--generate-bash-completion"

// completeNetworks completes flags after "-", else network names read from
// the store (read-only, with a short lock wait; nothing on any error).
func (e *env) completeNetworks(c *cli.Context) {
	if last := e.lastWord(); strings.HasPrefix(last, "-") {
		completeFlags(c, last, e)
		return
	}
	loc, err := e.dbPath(c)
	if err != nil {
		return
	}
	opts := e.storeOptions(c, true)
	opts.Timeout = 500 * time.Millisecond
	st, err := storeurl.Open(c.Context, loc, opts)
	if err != nil {
		return
	}
	defer st.Close()
	_ = ipam.New(st).View(c.Context, func(t *ipam.Txn) error {
		nets, err := t.Networks()
		for _, n := range nets {
			fmt.Fprintln(e.stdout, n.Name)
		}
		return err
	})
}

// completeCommands completes flags after "-", else subcommand names.
func (e *env) completeCommands(c *cli.Context) {
	if last := e.lastWord(); strings.HasPrefix(last, "-") {
		completeFlags(c, last, e)
		return
	}
	for _, sc := range c.Command.Subcommands {
		if !sc.Hidden {
			fmt.Fprintln(e.stdout, sc.Name)
		}
	}
}

// lastWord is the word being completed: the one before the completion flag.
func (e *env) lastWord() string {
	if n := len(e.args); n >= 2 && e.args[n-1] == completionFlag {
		return e.args[n-2]
	}
	return ""
}

func completeFlags(c *cli.Context, last string, e *env) {
	cur := strings.TrimLeft(last, "-")
	flags := c.Command.Flags
	if c.Command.Name == "" || c.Command.Name == Name {
		flags = c.App.Flags
	}
	for _, f := range flags {
		for _, name := range f.Names() {
			if len(name) > 1 && strings.HasPrefix(name, cur) {
				fmt.Fprintln(e.stdout, "--"+name)
			}
		}
	}
}

const bashCompletion = `# bash completion for diktyo-ipam; install with
#   diktyo-ipam completion bash > /etc/bash_completion.d/diktyo-ipam
_diktyo_ipam() {
    local cur words
    COMPREPLY=()
    cur="${COMP_WORDS[COMP_CWORD]}"
    words=("${COMP_WORDS[@]:0:COMP_CWORD}")
    if [[ "$cur" == -* ]]; then
        words+=("$cur")
    fi
    local IFS=$'\n'
    COMPREPLY=($(compgen -W "$("${words[@]}" --generate-bash-completion 2>/dev/null)" -- "$cur"))
    return 0
}
complete -o bashdefault -o default -F _diktyo_ipam diktyo-ipam
`

const zshCompletion = `#compdef diktyo-ipam
# zsh completion for diktyo-ipam; install with
#   diktyo-ipam completion zsh > "${fpath[1]}/_diktyo-ipam"
_diktyo_ipam() {
    local -a opts
    local cur=${words[-1]}
    if [[ "$cur" == -* ]]; then
        opts=("${(@f)$(${words[@]:0:#words[@]-1} ${cur} --generate-bash-completion 2>/dev/null)}")
    else
        opts=("${(@f)$(${words[@]:0:#words[@]-1} --generate-bash-completion 2>/dev/null)}")
    fi
    if [[ "${opts[1]}" != "" ]]; then
        compadd -a opts
    else
        _files
    fi
}
compdef _diktyo_ipam diktyo-ipam
`

// fishNetworkCommands are the subcommands whose first argument is a network.
const fishNetworkCommands = "modify remove rename list info connect disconnect reserve release allocate generate eui64"

func (e *env) completionCommand() *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print a shell completion script (bash, zsh or fish)",
		ArgsUsage: "bash|zsh|fish",
		BashComplete: func(c *cli.Context) {
			for _, s := range []string{"bash", "zsh", "fish"} {
				fmt.Fprintln(e.stdout, s)
			}
		},
		Action: func(c *cli.Context) error {
			a, err := posArgs(c, 1, 1, "completion bash|zsh|fish")
			if err != nil {
				return err
			}
			var script string
			switch a[0] {
			case "bash":
				script = bashCompletion
			case "zsh":
				script = zshCompletion
			case "fish":
				if script, err = c.App.ToFishCompletion(); err != nil {
					return fmt.Errorf("completion: %w", err)
				}
				script += fmt.Sprintf("complete -c %s -n '__fish_seen_subcommand_from %s' -f -a '(%s network list --no-headers -o name 2>/dev/null)'\n",
					Name, fishNetworkCommands, Name)
			default:
				return usagef("completion: unknown shell %q; want bash, zsh or fish", a[0])
			}
			_, err = fmt.Fprint(e.stdout, script)
			return err
		},
	}
}
