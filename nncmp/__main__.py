from nncmp.cli import main

main()
