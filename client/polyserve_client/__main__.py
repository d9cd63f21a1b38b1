from polyserve_client.cli import main

main()
