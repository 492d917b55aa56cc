"""The command line: argparse wiring only, over ``api`` and the top modules.
"""
