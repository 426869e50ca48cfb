package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/pipecli/pipecli/internal/frame"
	"github.com/pipecli/pipecli/internal/iostreams"
	"github.com/pipecli/pipecli/internal/replay"
	"github.com/pipecli/pipecli/internal/serve"
	"github.com/pipecli/pipecli/internal/session"
)

// replayOpts are `pipecli replay`'s options: the target's, and its own.
type replayOpts struct {
	IO *iostreams.IOStreams
	targetOpts
	Records      string
	JSON         bool
	Update       bool
	IgnoreFields []string
	IgnoreSpace  bool
	IgnoreExit   bool
	NoColor      bool
	Quiet        bool

	recs  *replay.Records
	rules replay.Rules
	// guessed: line framing was picked for want of other, neither given
	// nor carried by the records (see replay.Records.CheckLine).
	guessed bool
	// reframed: framing flags were given, which replace the records'
	// (and --update writes in them)
	reframed bool
}

// framingFlags are the flags that say how answers are told apart, which
// records carry: one on the command line replaces the records' whole, as
// they make sense only together (--prompt and --skip-banner do not go
// together, a --sentinel prints one marker).
var framingFlags = []string{"framing", "marker", "marker-regexp", "prompt", "sentinel", "ready", "skip-banner"}

func newReplayCmd(io *iostreams.IOStreams, runF func(*replayOpts) error) *cobra.Command {
	o := &replayOpts{IO: io}
	cmd := &cobra.Command{
		Use:   "replay RECORDS [flags] [-- COMMAND ARGS...]",
		Short: "Send recorded requests to COMMAND again and compare its answers with the recorded ones",
		Long: `Send the input of each record in RECORDS (what 'pipecli run --json' wrote, or
any JSON lines with "input" and "output"; - for stdin) to COMMAND (default: the
demo model) again, in record order, and compare each new answer with the
recorded "output": a regression test, with RECORDS as its golden file.

The report lists each record whose answer changed, with a word diff
([-recorded-]{+new+}; in colour on a terminal), and each that failed, then
counts them (same, changed, failed) and compares the latency with the
recorded one. --json writes it as one JSON document instead.

Framing: the one the records were made with, which 'pipecli run --json'
writes in each ("framing"). Framing flags given (--framing, --marker,
--marker-regexp, --prompt, --sentinel, --ready, --skip-banner) replace it
whole. Records that carry none (an older pipecli's, another tool's) are
replayed in jsonl when their answers are JSON objects, else in line framing,
unless a record's answer holds a newline, or is empty for an input that is
not: line framing cannot have recorded it, and its answers would go to the
wrong records, so that is an input error (exit 2): give the framing flags
the records were made with. In jsonl, answers are compared as JSON
values; the "id" of the answer to an input that had no "id" of its own is
pipecli's correlation id, and is not compared. Partial messages are progress:
only the final answer is compared. A record that failed when recorded and
fails again is the same; one that is answered now has changed. A
notification ("notification":true) expects no answer.

--update rewrites the records that changed with their new answers (the
golden-file workflow); the other lines are kept as they are. It writes
nothing when a request failed, and replaces the file whole or not at all.

Exit status:
  0      every record replayed the same (with --update: the changed ones
         were rewritten)
  1      some changed or failed; or the child exited unsuccessfully, or
         answered what no request asked, after the requests ended
  2      usage or input error: a bad flag, a record that cannot be read, or
         that the framing cannot replay
  125    pipecli's own failure (the records could not be written), or
         docker could not run the container
  126    COMMAND cannot be executed
  127    COMMAND not found
  128+N  pipecli got signal N (130: Ctrl-C): no report, nothing updated`,
		Example: `  pipecli run --framing line --json --file testdata/crypt.txt > testdata/crypt.records.jsonl
  pipecli replay testdata/crypt.records.jsonl
  pipecli replay testdata/crypt.records.jsonl --update
  pipecli replay golden.jsonl -j 4 --timeout 30s -- python3 -u model.py
  pipecli replay golden.jsonl --framing jsonl --ignore-field meta.time -- ./model --jsonl`,
		RunE: func(c *cobra.Command, args []string) error {
			if err := o.parseArgs(c, args); err != nil {
				return err
			}
			if runF != nil {
				return runF(o)
			}
			return runReplay(c.Context(), o)
		},
	}
	f := cmd.Flags()
	o.addFlags(f)
	o.addCompletions(cmd)
	// The framing's default is the records' (see parseArgs), never raw.
	framing := f.Lookup("framing")
	framing.Usage, framing.DefValue = "how answers are told apart: line, marker or jsonl (default: the records' framing flags; if they have none, jsonl when the recorded answers are JSON objects, else line)", ""
	// --partials and --unordered change only how answers are written,
	// which replay does not do; --skip-empty is refused (parseArgs).
	for _, name := range []string{"partials", "unordered", "skip-empty"} {
		if err := f.MarkHidden(name); err != nil {
			panic(err) // no such flag: a mistake here
		}
	}
	f.BoolVar(&o.JSON, "json", false, "write the report as one JSON document: the counts, the latencies and a result per record")
	f.BoolVar(&o.Update, "update", false, "rewrite the records that changed with their new answers (not when a request failed)")
	f.StringArrayVar(&o.IgnoreFields, "ignore-field", nil, "with --framing jsonl: leave the answers' member `NAME` out of the comparison (repeat it; a dotted path such as meta.time reaches inside)")
	f.BoolVar(&o.IgnoreExit, "ignore-exit", false, "a child that exits with an error once every record was answered does not fail the replay, nor keep --update from writing (sqlite3 exits 1 after any SQL error)")
	f.BoolVar(&o.IgnoreSpace, "ignore-space", false, "compare answers (in jsonl, their strings) with runs of white space as one space and the ends trimmed")
	f.BoolVar(&o.NoColor, "no-color", false, "no colours (also: NO_COLOR=1)")
	f.BoolVarP(&o.Quiet, "quiet", "q", false, "no progress bar (shown on stderr when it is a terminal)")
	return cmd
}

// parseArgs separates RECORDS from the command after --, reads the
// records, picks the framing (see the help: the records', or a guess when
// they carry none) and checks the flags.
func (o *replayOpts) parseArgs(c *cobra.Command, args []string) error {
	dash := c.ArgsLenAtDash()
	switch {
	case len(args) == 0 || dash == 0:
		return usageError(fmt.Errorf("give the records to replay: pipecli replay RECORDS [-- COMMAND]"))
	case dash < 0 && len(args) > 1:
		// Without --, the command's own flags would be taken for ours.
		return usageError(fmt.Errorf("put the command after --, so that its flags are not taken for replay's: pipecli replay %s -- %s", args[0], args[1]))
	case dash > 1:
		return usageError(fmt.Errorf("give one RECORDS file before --, not %d", dash))
	}
	o.Records, o.Argv = args[0], args[1:]
	if o.Update && o.Records == "-" {
		return usageError(fmt.Errorf("--update rewrites the records file: give its path, not - (stdin)"))
	}
	f := c.Flags()
	if f.Changed("skip-empty") {
		return usageError(fmt.Errorf("--skip-empty does not go with replay: every record is a request, a blank input too"))
	}
	recs, err := replay.Load(o.Records, o.IO.In)
	if err != nil {
		return err
	}
	o.recs = recs
	o.reframed = slices.ContainsFunc(framingFlags, f.Changed)
	if !f.Changed("connect") && !o.reframed {
		ff, err := recs.Framing()
		if err != nil {
			return err
		}
		// As if given, so that check treats them as the user's choice.
		var args []string
		if ff != nil {
			args = ff.Args()
		}
		for i := 0; i+1 < len(args); i += 2 {
			if err := f.Set(strings.TrimPrefix(args[i], "--"), args[i+1]); err != nil {
				return usageError(fmt.Errorf("the records' framing flags %s: %w", replay.FlagsText(ff), err))
			}
		}
	}
	if f.Changed("connect") {
		if err := o.checkServerFraming(recs); err != nil {
			return err
		}
	}
	if !f.Changed("framing") && !f.Changed("prompt") && !f.Changed("connect") {
		mode := frame.Line
		switch {
		case f.Changed("marker") || f.Changed("marker-regexp"):
			mode = frame.Marker
		case recs.JSONL:
			mode = frame.JSONL
		default:
			o.guessed = true
		}
		// As if given, so that check treats it as the user's choice.
		if err := f.Set("framing", mode.String()); err != nil {
			return err
		}
	}
	if err := o.check(c); err != nil {
		return err
	}
	if o.Framing == frame.Raw {
		return usageError(fmt.Errorf("replay tells each answer from the next: it needs --framing line, marker or jsonl, not raw"))
	}
	o.rules = replay.Rules{JSONL: o.Framing == frame.JSONL || o.Framing == frame.Serve && recs.JSONL, IgnoreSpace: o.IgnoreSpace}
	for _, name := range o.IgnoreFields {
		if !o.rules.JSONL {
			return usageError(fmt.Errorf("--ignore-field %s: with --framing %s the answers are text, which has no fields; it goes with --framing jsonl (--ignore-space ignores white space in text)", name, o.Framing))
		}
		p, err := replay.ParsePath(name)
		if err != nil {
			return usageError(fmt.Errorf("--ignore-field: %w", err))
		}
		o.rules.IgnoreFields = append(o.rules.IgnoreFields, p)
	}
	return nil
}

// checkServerFraming refuses to replay, through the server of --connect,
// records made with other framing flags than the server's: its replicas
// would tell the answers apart otherwise (a REPL's empty answers under
// --sentinel, by line), and every answer after the first that differs
// would be laid at the wrong record's door. A server that cannot be
// reached is left to fill to report.
func (o *replayOpts) checkServerFraming(recs *replay.Records) error {
	ff, err := recs.Framing()
	if err != nil || ff == nil {
		return err
	}
	path, err := serve.Resolve(o.Connect, os.Getenv, false)
	if err != nil {
		return nil
	}
	conn, err := serve.Dial(path)
	if err != nil {
		return nil
	}
	g := conn.Greeting
	conn.Close()
	theirs := "--framing " + g.Framing
	same := ff.Mode == g.Framing
	if gf := g.FramingFlags; gf != nil {
		theirs = replay.FlagsText(gf)
		same = gf.Mode == ff.Mode && eqPtr(gf.Marker, ff.Marker) && eqPtr(gf.MarkerRegexp, ff.MarkerRegexp) && eqPtr(gf.Prompt, ff.Prompt) && eqPtr(gf.Sentinel, ff.Sentinel)
	}
	if same {
		return nil
	}
	return &replay.BadInput{Path: recs.Path, Why: fmt.Sprintf("the records were made with %s, and the server %s frames with %s: its answers would not be told apart as they were recorded; replay against a server started with the records' framing flags, or give the command after -- instead of --connect", replay.FlagsText(ff), o.Connect, theirs)}
}

func eqPtr(a, b *string) bool { return a == nil && b == nil || a != nil && b != nil && *a == *b }

func runReplay(ctx context.Context, o *replayOpts) error {
	o.IO.SetColor(o.NoColor)
	cfg := session.Config{Quiet: o.Quiet}
	o.limitProcs(o.IO.Getenv)
	if err := o.fill(&cfg); err != nil {
		return err
	}
	// Line framing as fill settled it: the demo model frames its answers
	// with a marker of its own, whatever the records hold.
	if cfg.Framing.Mode == frame.Line {
		if err := o.recs.CheckLine(o.guessed); err != nil {
			return err
		}
	}
	ro := replay.Options{Rules: o.rules, JSON: o.JSON, Update: o.Update, IgnoreExit: o.IgnoreExit}
	if o.reframed {
		ro.Framing = cfg.RecordFraming
	}
	return replay.Run(ctx, o.recs, cfg, ro, o.IO)
}
