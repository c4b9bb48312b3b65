"""`tvmaze-sync serve`: the bounded HTTP loop, the endpoints, the background runner."""
