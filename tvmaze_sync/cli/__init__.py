"""The command line: commands, rendering, the terminal."""
