"""Shared by tests, benchmarks and the demo, never imported by the server: an embedded server in
a child process (`embedded`) and generated data sets (`datasets`)."""
