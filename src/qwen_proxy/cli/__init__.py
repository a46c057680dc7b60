"""The ``qwen-proxy`` command and its subcommands: thin, they parse, call and print."""
