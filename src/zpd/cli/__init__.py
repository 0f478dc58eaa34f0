"""The ``zpd`` command line: one subcommand module per concept, registered in :mod:`zpd.cli.main`.

Each subcommand module exposes ``add_parser(subparsers) -> argparse.ArgumentParser`` and sets
``func`` on its parser; heavy imports (torch, transformers, hosts) happen inside ``func`` so that
``zpd --help`` stays instant.
"""
