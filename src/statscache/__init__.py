"""statscache: statistics from Fedora's message bus, ready to serve."""
