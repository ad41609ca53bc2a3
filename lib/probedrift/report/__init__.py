"""From tables to words and pictures: the paper's numbers, table summaries, verdicts against the
paper, key findings, chapter summaries and figures."""
