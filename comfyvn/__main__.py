from comfyvn.cli import main

main()
