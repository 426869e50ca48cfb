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
