package corpus

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestGivenNames(t *testing.T) {
	dir := t.TempDir()
	// Two synsets of people (lexicographer file 18), one of a place (15),
	// and a licence line, as data.noun has them.
	data := "  1 This software and database is being provided\n" +
		"11004837 18 n 03 Tolkien 0 J._R._R._Tolkien 0 John_Ronald_Reuel_Tolkien 0 001 @ 10795531 n 0000 | English writer\n" +
		"11005001 18 n 02 Saint_Peter 0 doubting_Thomas 0 000 | an apostle\n" +
		"08929922 15 n 02 New_York 0 New_York_City 0 000 | a city\n"
	if err := os.WriteFile(filepath.Join(dir, "data.noun"), []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := GivenNames(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := "J\nR\nR\nJohn\nRonald\nReuel\nSaint\n"
	if string(got) != want {
		t.Errorf("GivenNames = %q, want %q", got, want)
	}

	if err := os.WriteFile(filepath.Join(dir, "data.noun"), []byte("11004837 18 n zz Tolkien 0 000 | writer\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := GivenNames(dir); err == nil || !strings.Contains(err.Error(), "bad word count") {
		t.Errorf("a bad word count: error %v, want one that says so", err)
	}
}

func TestRSTProse(t *testing.T) {
	tests := []struct {
		name, rst, want string
	}{
		{"roles keep their text",
			"Call :func:`open` or :meth:`~io.IOBase.close`, see :ref:`the tutorial <tut-files>`.\n",
			"Call open or io.IOBase.close, see the tutorial.\n"},
		{"a paragraph is one line, inline literals kept",
			"The ``None`` value is\nreturned **always**.\n\nNext one.\n",
			"The None value is returned always.\nNext one.\n"},
		{"a literal block after :: goes, its paragraph stays",
			"For example::\n\n   x = 1\n   print(x)\n\nAfter it.\n",
			"For example:\nAfter it.\n"},
		{"a lone :: goes",
			"Some text.\n\n::\n\n   code()\n\nMore.\n",
			"Some text.\nMore.\n"},
		{"code directives go, with their content",
			".. code-block:: python\n\n   import os\n\nProse.\n",
			"Prose.\n"},
		{"other directives lose their line, not their prose",
			".. function:: open(file, mode='r')\n\n   Open *file* and return a file object.\n",
			"Open *file* and return a file object.\n"},
		{"code tokens go: letters with digits, a letter four times",
			"Up to 0x10FFFF, as \\uXXXX in utf8, since 3.11 (see bpo_1000); keep all.\n",
			"Up to , as \\ in , since 3.11 (see ); keep all.\n"},
		{"interactive sessions and underlines go",
			"Title\n=====\n\n>>> 1 + 1\n2\n\nText.\n",
			"Title\n2\nText.\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(rstProse([]byte(tt.rst))); got != tt.want {
				t.Errorf("rstProse(%q) = %q, want %q", tt.rst, got, tt.want)
			}
		})
	}
}

func TestPythonDocs(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("library/os.rst.txt", "The os module.\n")
	write("license.rst.txt", "GNU GENERAL PUBLIC LICENSE\n")
	write("whatsnew/3.11.rst.txt", "bpo-12345\n")
	write("tutorial/index.rst.txt", "A tutorial.\n")
	got, err := PythonDocs(dir)
	if err != nil {
		t.Fatal(err)
	}
	if want := "The os module.\nA tutorial."; string(got) != want {
		t.Errorf("PythonDocs = %q, want %q: the prose of each page in order, no licence or changelog", got, want)
	}
	if _, err := PythonDocs(filepath.Join(dir, "none")); err == nil || !strings.Contains(err.Error(), "apt-get install") {
		t.Errorf("a missing directory: error %v, want one that names the package to install", err)
	}
}

func TestJargonProse(t *testing.T) {
	text := "                                The Jargon File\n\n" +
		"   Table of Contents\n\n   Welcome to the Jargon File\n\n   I. Introduction\n\n" +
		"                          Welcome to the Jargon File\n\n" +
		"   This is the Jargon File, a comprehensive compendium of hacker\n   slang.\n\n" +
		"Chapter 6. Email Quotes and Inclusion Conventions\n\n" +
		" #include <disclaimer.h>\n --\n\n" +
		"     • alt.wesley.crusher.die.die.die\n\n" +
		"   1TBS\n\n" +
		"   :kluge: /klooj/, n.\n\n" +
		"   1. A clever programming trick, as on the {68030} under the hood of a\n   40MHz {box}.\n"
	want := "This is the Jargon File, a comprehensive compendium of hacker slang.\n" +
		"1. A clever programming trick, as on the 68030 under the hood of a  box.\n"
	if got := string(jargonProse([]byte(text))); got != want {
		t.Errorf("jargonProse = %q, want %q", got, want)
	}
}

func TestDrop(t *testing.T) {
	runs := map[uint64]bool{}
	w := words([]byte("It's a truth universally acknowledged, that a single man in possession"))
	for i := 0; i+RunWords <= len(w); i++ {
		runs[runHash(w[i:i+RunWords])] = true
	}
	if !SharesRun([]byte("As Jane wrote: “it’s a TRUTH universally acknowledged -- that a single man”"), runs) {
		t.Error("eight words in a row, case, quotes and punctuation aside: not found")
	}
	if SharesRun([]byte("It is a truth universally acknowledged, that a single woman"), runs) {
		t.Error("seven words in a row: found")
	}
}
