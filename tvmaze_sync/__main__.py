from tvmaze_sync.cli import main

main()
