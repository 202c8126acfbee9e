from acra_enrich.cli import main

main()
