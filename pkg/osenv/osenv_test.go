package osenv

import (
	"maps"
	"testing"
)

func TestMap(t *testing.T) {
	got := Map([]string{"A=1", "B=", "C=x=y", "junk", "A=2"})
	want := map[string]string{"A": "2", "B": "", "C": "x=y"}
	if !maps.Equal(got, want) {
		t.Fatalf("Map = %v, want %v", got, want)
	}
	if m := Map(nil); m == nil || len(m) != 0 {
		t.Fatalf("Map(nil) = %#v, want an empty map", m)
	}
}

func TestGetenv(t *testing.T) {
	get := Getenv([]string{"A=1", "B="})
	if get("A") != "1" || get("B") != "" || get("C") != "" {
		t.Fatalf("Getenv: A=%q B=%q C=%q", get("A"), get("B"), get("C"))
	}
}
