"""The command line: the server, its sub-commands, start-up and worker supervision."""
