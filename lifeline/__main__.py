from lifeline.cli import main

main()
