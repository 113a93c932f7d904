"""Analysis of judged runs: pandas in, pandas out."""
