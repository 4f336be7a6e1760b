from nncmp.cli import main

if __name__ == "__main__":  # importing it (the docs' API pages inspect every module) must not run the CLI
    main()
