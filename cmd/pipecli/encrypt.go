package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/pipecli/pipecli/internal/iostreams"
	"github.com/pipecli/pipecli/internal/model"
)

func newEncryptCmd(io *iostreams.IOStreams) *cobra.Command {
	var o model.EncryptOptions
	cmd := &cobra.Command{
		Use:   "encrypt",
		Short: "Encrypt plaintext lines from stdin, for the demo model to break",
		Example: `  pipecli encrypt < plain.txt > crypt.txt                 # a random substitution key per line
  pipecli encrypt --seed 7 < plain.txt                     # reproducible keys
  pipecli encrypt --cipher original --whole < play.txt     # the original demo's ciphertext`,
		Args: noArgs,
		RunE: func(c *cobra.Command, args []string) error {
			o.HasSeed = c.Flags().Changed("seed")
			switch o.Cipher {
			case "substitution", "original", "caesar", "ascii":
			default:
				return usageError(fmt.Errorf("--cipher must be substitution, original, caesar or ascii, not %q", o.Cipher))
			}
			if o.Key != "" {
				if o.Cipher != "substitution" {
					return usageError(fmt.Errorf("--key goes with --cipher substitution"))
				}
				if _, err := model.ParseKey(o.Key); err != nil {
					return usageError(fmt.Errorf("bad --key: %w", err))
				}
			}
			if o.Whole && o.Cipher != "original" {
				return usageError(fmt.Errorf("--whole goes with --cipher original"))
			}
			return model.Encrypt(c.Context(), io.In, io.Out, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Cipher, "cipher", "substitution", "substitution, original, caesar or ascii")
	f.Int64Var(&o.Seed, "seed", 0, "seed for the substitution keys, for reproducible output")
	f.StringVar(&o.Key, "key", "", "a fixed substitution key: the 26 letters a-z become, e.g. QWERTYUIOPASDFGHJKLZXCVBNM")
	f.IntVar(&o.Shift, "shift", 0, "the shift for original, caesar and ascii (0: the usual one)")
	f.BoolVar(&o.Whole, "whole", false, "original cipher: encrypt the input as one text and cut it into 128-character lines")
	return cmd
}
