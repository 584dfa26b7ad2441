package main

import "testing"

func TestInsertTable(t *testing.T) {
	for q, want := range map[string]string{
		"INSERT INTO sinker.interactions FORMAT Native":              "interactions",
		"  insert into `salespulse`.`alerts` (id, at) FORMAT Native": "alerts",
		"INSERT INTO TABLE kbi_facts(a) VALUES (1)":                  "kbi_facts",
		"DESCRIBE TABLE sinker.interactions":                         "",
		"SELECT 'INSERT INTO x'":                                     "",
	} {
		if got := insertTable(q); got != want {
			t.Errorf("insertTable(%q) = %q, want %q", q, got, want)
		}
	}
}

func TestThousands(t *testing.T) {
	for f, want := range map[float64]string{0: "0", 999.6: "1,000", 1234567: "1,234,567", -4321: "-4,321"} {
		if got := thousands(f); got != want {
			t.Errorf("thousands(%v) = %q, want %q", f, got, want)
		}
	}
}
