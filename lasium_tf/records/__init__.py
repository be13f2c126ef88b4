"""What a run leaves: the run folder and the one result-record schema, the
summary reader, plots and pictures."""
