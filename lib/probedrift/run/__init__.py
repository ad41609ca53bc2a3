"""One run end to end: typed parameters, the run object and its table catalogue, the results
directory, the papermill runner, the book and the command line."""
