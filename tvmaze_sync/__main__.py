from tvmaze_sync.cli.main import main

main()
