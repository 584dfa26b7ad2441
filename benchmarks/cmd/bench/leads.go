package main

import "github.com/salespulse/salespulse/benchmarks/stagebench"

func openLeadBytes() (float64, error) { return stagebench.OpenLeadBytes(200_000) }
