"""The built-in statistics, registered through the ``statscache.plugin`` entry-point group."""
