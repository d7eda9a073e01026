from gorilla.cli.main import main

main()
