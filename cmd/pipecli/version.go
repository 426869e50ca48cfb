package main

import (
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/pipecli/pipecli"
	"github.com/pipecli/pipecli/internal/iostreams"
)

func newVersionCmd(io *iostreams.IOStreams) *cobra.Command {
	var notice bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print pipecli's version",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			fmt.Fprintln(io.Out, "pipecli "+version())
			if notice {
				fmt.Fprint(io.Out, "\n", pipecli.License, "\n", pipecli.Notice)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&notice, "notice", false, "also print pipecli's licence and the sources, copyrights and licences of the data its demo model embeds")
	return cmd
}

// version describes this build from the information Go stamps into it: the
// module version when installed with `go install ...@vX`, else the VCS
// revision it was built from.
func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown)"
	}
	v := info.Main.Version
	if v == "" {
		v = "(devel)"
	}
	var rev, modified, when string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = ", modified"
			}
		case "vcs.time":
			when = ", " + s.Value
		}
	}
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		v += fmt.Sprintf(" (%s%s%s)", rev, when, modified)
	}
	return v + " " + info.GoVersion
}
