"""tvmaze-sync: a local SQLite mirror of TVMaze that feeds the shows you want to Sonarr.

The package is drawn in layers, top to bottom. A module imports from its own layer or from
a layer below it, never from one above, nor from a sibling: a line starting `=` is a layer
of the same rank as the line above, and neither of the two imports the other
(tests/test_layers.py holds every import to this, those inside functions and under
TYPE_CHECKING included):

    cli        the command line: the Typer commands, rendering, the terminal
    serve      `tvmaze-sync serve`: the bounded HTTP loop, the endpoints, the runner
    cycle      one whole cycle: the orchestrator (the only module that knows every phase),
               its notification, its metrics; `explain`, which reads both sides too
    sonarr     the Sonarr side: the gateway (the only pyarr user), settings validation,
               the ownership ledger, the Sonarr phase, its queues (retry, review, removals)
    decisions  which shows are wanted: the rules, the filter phase, explain, the vocabulary
  = tvmaze     the TVMaze side: the HTTP client, the JSON mapping, the mirror, its plan
    storage    where SQL and files live: the SQLite cache, state.json, the writer lock
    core       what every layer shares: errors and exit codes, the model, the one
               configuration schema, the cycle's context, time, logging, bounded HTTP

Within a layer, modules import one another without a cycle. `tvmaze` and `decisions` need
only the layers below them, not each other (a Show is the model's, not the mapping's); the
Sonarr phase and the cycle read both. `__main__` sits above everything;
this root module holds only `__version__`, which any module may read.
"""

__version__ = "0.1.0"
